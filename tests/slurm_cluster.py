"""A real single-node SLURM cluster for tests: munged, slurmctld and slurmd in a temp dir.

Usage::

    with slurm_cluster() as cluster:          # or the session fixture `slurm`
        subprocess.run(["sbatch", "--wrap", "hostname"], env=cluster.env, check=True)

Everything the cluster writes (munge key and socket, slurm.conf, state, spool, logs) lives
under one directory; clients find it through ``cluster.env`` (``SLURM_CONF``). The daemons run
in the foreground as children of the test process and are stopped by pid. No cgroups, no
accounting database: ``sacct`` does not work, which submitit tolerates (it reads its result files).
Made for root (as in CI); the binaries come from ``scripts/install_slurm.sh``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install_slurm.sh"
PARTITION = "debug"
NODE_NAME = "localhost"
REQUIRED_BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo", "squeue", "scancel")
# Daemons carry this variable; teardown uses it to find their orphaned children (slurmstepd).
MARKER_VAR = "SWEEPKIT_TEST_SLURM_ROOT"


class SlurmStartError(RuntimeError):
    """SLURM could not be installed or started; the message holds the reason and log tails."""


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")


def ensure_slurm_installed() -> None:
    """Make sure the SLURM and munge binaries exist, installing them outside CI.

    In CI (``CI=true``) a missing binary is an error: the CI set-up must run
    ``scripts/install_slurm.sh`` before pytest.
    """
    missing = [b for b in REQUIRED_BINARIES if _which(b) is None]
    if not missing:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise SlurmStartError(
            f"SLURM binaries missing: {', '.join(missing)}. Run `bash scripts/install_slurm.sh` before the tests."
        )
    proc = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True)
    still_missing = [b for b in REQUIRED_BINARIES if _which(b) is None]
    if proc.returncode != 0 or still_missing:
        raise SlurmStartError(
            f"could not install SLURM with {INSTALL_SCRIPT} (exit {proc.returncode}; "
            f"missing: {', '.join(still_missing) or 'none'}):\n{proc.stdout}\n{proc.stderr}"
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _real_memory_mb() -> int:
    """Memory to declare for the node: 90% of the machine's (slurmd drains a node that claims more)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return max(256, int(int(line.split()[1]) / 1024 * 0.9))
    return 1024


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty)"


@dataclass
class SlurmCluster:
    """A running single-node cluster. ``env`` is what clients and jobs need (``SLURM_CONF``)."""

    root: Path
    cpus: int
    partition: str = PARTITION
    node: str = NODE_NAME
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def conf_path(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def env(self) -> dict[str, str]:
        """os.environ plus SLURM_CONF: pass it to sbatch/srun/submitit subprocesses."""
        env = dict(os.environ)
        env["SLURM_CONF"] = str(self.conf_path)
        env.pop(MARKER_VAR, None)
        return env

    def run(self, *cmd: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        """Run a SLURM client command against this cluster and return its completed process."""
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}\n{self.logs()}")
        return proc

    def queue(self) -> list[str]:
        """Ids of the jobs the controller still holds as pending, running or completing."""
        out = self.run("squeue", "-h", "-o", "%i").stdout
        return [line.strip() for line in out.splitlines() if line.strip()]

    def node_state(self) -> str:
        """The node's state in sinfo ("idle", "allocated", ...), "" while the controller is unreachable."""
        try:
            proc = self.run("sinfo", "-h", "-n", self.node, "-o", "%T", timeout=3, check=False)
        except subprocess.TimeoutExpired:
            return ""
        return proc.stdout.strip()

    def wait_for_job(self, job_id: str, timeout: float = 60) -> None:
        """Wait until the job (or every element of a job array) has left the queue."""
        deadline = time.monotonic() + timeout
        while any(j == job_id or j.startswith(f"{job_id}_") for j in self.queue()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"SLURM job {job_id} still queued after {timeout}s")
            time.sleep(0.2)

    def wait_for_empty_queue(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.queue():
            if time.monotonic() > deadline:
                raise TimeoutError(f"SLURM queue not empty after {timeout}s: {self.queue()}")
            time.sleep(0.2)

    def logs(self, lines: int = 25) -> str:
        """The tail of every daemon's log, for error messages."""
        parts = []
        for name in ("munged", "slurmctld", "slurmd"):
            log = self.log_dir / f"{name}.log"
            if not log.exists():  # munged -F and early failures write to the captured stdout
                log = self.log_dir / f"{name}.stdout"
            parts.append(f"--- {log} (last {lines} lines) ---\n{_tail(log, lines)}")
            proc = self.processes.get(name)
            if proc is not None and proc.poll() is not None:
                parts.append(f"--- {name} exited with {proc.returncode}")
        return "\n".join(parts)


def _write_config(cluster: SlurmCluster) -> None:
    root = cluster.root
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # clients of other users must reach the munge socket
    for sub in ("etc", "state", "spool", "run", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    munge_dir = cluster.munge_socket.parent
    munge_dir.mkdir(exist_ok=True)
    munge_dir.chmod(0o755)  # munged refuses a socket dir others can write to
    key = root / "etc" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    ctld_host = socket.gethostname().split(".")[0]
    ctld_port = _free_port()
    slurmd_port = _free_port()
    while slurmd_port == ctld_port:
        slurmd_port = _free_port()
    user = os.environ.get("USER") or "root"
    lines = [
        "ClusterName=sweepkit-test",
        f"SlurmctldHost={ctld_host}(127.0.0.1)",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={slurmd_port}",
        f"SlurmUser={user if os.getuid() else 'root'}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={cluster.munge_socket}",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'run' / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'run' / 'slurmd.pid'}",
        f"SlurmctldLogFile={cluster.log_dir / 'slurmctld.log'}",
        f"SlurmdLogFile={cluster.log_dir / 'slurmd.log'}",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "JobCompType=jobcomp/none",
        "MpiDefault=none",
        "SchedulerType=sched/backfill",
        "SchedulerParameters=sched_interval=1",
        "ReturnToService=2",
        "SlurmdParameters=config_overrides",
        "MailProg=/bin/true",
        "KillWait=2",
        "MinJobAge=5",
        "InactiveLimit=0",
        f"NodeName={cluster.node} NodeAddr=127.0.0.1 NodeHostname={cluster.node} "
        f"CPUs={cluster.cpus} RealMemory={_real_memory_mb()} State=UNKNOWN",
        f"PartitionName={cluster.partition} Nodes={cluster.node} Default=YES MaxTime=INFINITE State=UP",
    ]
    cluster.conf_path.write_text("\n".join(lines) + "\n")


def _start(cluster: SlurmCluster, name: str, cmd: list[str]) -> None:
    env = cluster.env
    env[MARKER_VAR] = str(cluster.root)
    out = open(cluster.log_dir / f"{name}.stdout", "wb")
    cluster.processes[name] = subprocess.Popen(
        cmd,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    out.close()


def _wait_until(cluster: SlurmCluster, what: str, ready, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        dead = [n for n, p in cluster.processes.items() if p.poll() is not None]
        if not dead and ready():
            return
        if dead or time.monotonic() > deadline:
            reason = f"{', '.join(dead)} exited" if dead else f"timed out after {timeout}s"
            raise SlurmStartError(f"SLURM test cluster did not start: waiting for {what}, {reason}.\n{cluster.logs()}")
        time.sleep(0.1)


def start_cluster(root: Path, timeout: float = 60) -> SlurmCluster:
    """Write the configuration under ``root``, start the daemons and wait for an idle node."""
    ensure_slurm_installed()
    cluster = SlurmCluster(root=Path(root), cpus=os.cpu_count() or 1)
    _write_config(cluster)
    try:
        _start(
            cluster,
            "munged",
            [
                _which("munged"),
                "-F",
                "--force",
                f"--socket={cluster.munge_socket}",
                f"--key-file={cluster.root / 'etc' / 'munge.key'}",
                f"--log-file={cluster.log_dir / 'munged.log'}",
                f"--pid-file={cluster.root / 'run' / 'munged.pid'}",
                f"--seed-file={cluster.root / 'run' / 'munged.seed'}",
            ],
        )
        _wait_until(cluster, "the munge socket", cluster.munge_socket.exists, timeout)
        conf = str(cluster.conf_path)
        _start(cluster, "slurmctld", [_which("slurmctld"), "-D", "-i", "-f", conf])
        _start(cluster, "slurmd", [_which("slurmd"), "-D", "-f", conf, "-N", cluster.node])
        _wait_until(cluster, "an idle node in sinfo", lambda: cluster.node_state() == "idle", timeout)
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def cluster_pids(root: Path) -> list[int]:
    """Pids of processes started from this cluster's daemons (e.g. an orphaned slurmstepd)."""
    marker = f"{MARKER_VAR}={root}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def _kill(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop_cluster(cluster: SlurmCluster, timeout: float = 30) -> None:
    """Cancel all jobs, wait for an empty queue, then stop the daemons and strays by pid."""
    ctld = cluster.processes.get("slurmctld")
    if ctld is not None and ctld.poll() is None:
        with contextlib.suppress(Exception):
            cluster.run("scancel", f"--partition={cluster.partition}", check=False)
            cluster.wait_for_empty_queue(timeout)
    for name in ("slurmd", "slurmctld", "munged"):
        proc = cluster.processes.get(name)
        if proc is None or proc.poll() is not None:
            continue
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    strays = cluster_pids(cluster.root)
    _kill(strays, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while strays and time.monotonic() < deadline:
        time.sleep(0.1)
        strays = cluster_pids(cluster.root)
    _kill(strays, signal.SIGKILL)


@contextlib.contextmanager
def slurm_cluster(root: Path | None = None) -> Iterator[SlurmCluster]:
    """Run a single-node SLURM cluster under ``root`` for the duration of the block.

    Without ``root`` the cluster lives in a fresh short directory under /tmp (a unix socket
    path must stay under 108 bytes) that is removed afterwards.
    """
    own_root = root is None
    if own_root:
        root = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp" if os.path.isdir("/tmp") else None))
    try:
        cluster = start_cluster(root)
        try:
            yield cluster
        finally:
            stop_cluster(cluster)
    finally:
        if own_root:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm() -> Iterator[SlurmCluster]:
    """pytest fixture: one SLURM cluster for the session (import it into a test module or conftest)."""
    with slurm_cluster() as cluster:
        yield cluster
