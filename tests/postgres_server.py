"""A real PostgreSQL server for tests: initdb in a temp dir, on 127.0.0.1 and a free port.

Usage::

    with postgres_server() as pg:             # or the session fixture `postgres` in test_postgres
        url = pg.new_database("sweep_a")      # postgresql://sweepkit:<password>@127.0.0.1:<port>/sweep_a

The cluster (data, socket, log) lives in one temp directory; the server runs as the ``postgres``
OS user when the tests run as root (PostgreSQL refuses root), is started and stopped with
``pg_ctl`` and checks passwords (scram-sha-256), so URLs carry one as they would in production.
The binaries come from Debian's ``postgresql`` package (``scripts/install_postgres.sh``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install_postgres.sh"
USER = "sweepkit"


class PostgresStartError(RuntimeError):
    """PostgreSQL could not be installed or started; the message holds the reason and log tail."""


def find_bin_dir() -> Path | None:
    """Debian's ``/usr/lib/postgresql/<version>/bin`` (newest), or the directory of ``initdb``."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def ensure_postgres_installed() -> Path:
    bin_dir = find_bin_dir()
    if bin_dir is not None:
        return bin_dir
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise PostgresStartError("PostgreSQL binaries missing: run `bash scripts/install_postgres.sh` before the tests")
    proc = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True)
    bin_dir = find_bin_dir()
    if proc.returncode != 0 or bin_dir is None:
        raise PostgresStartError(f"installing PostgreSQL failed:\n{proc.stdout}\n{proc.stderr}")
    return bin_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int
    password: str

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, *command: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *command]
        return list(command)

    def pg_ctl(self, action: str, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        command = self._as_owner(
            str(self.bin_dir / "pg_ctl"),
            action,
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            "30",
            "-o",
            opts,
            *extra,
        )
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise PostgresStartError(
                f"pg_ctl {action} failed: {proc.stdout}{proc.stderr}\nlog tail:\n{self.log_tail()}"
            )
        return proc

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def new_database(self, name: str) -> str:
        """Create database ``name`` and return its URL (with the password)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def restart(self, down_s: float = 0.0) -> None:
        """Stop (fast: open sessions are cut), stay down ``down_s`` seconds, start on the same port."""
        self.pg_ctl("stop", "-m", "fast")
        time.sleep(down_s)
        self.pg_ctl("start")


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = ensure_postgres_installed()
    root = Path(tempfile.mkdtemp(prefix="sweepkit-pg-"))
    server = PostgresServer(bin_dir, root, free_port(), secrets.token_urlsafe(12))
    try:
        pwfile = root / "pw"
        pwfile.write_text(server.password + "\n")
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        initdb = server._as_owner(
            str(bin_dir / "initdb"),
            "-D",
            str(server.data_dir),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        proc = subprocess.run(initdb, capture_output=True, text=True, timeout=120)
        pwfile.unlink()
        if proc.returncode != 0:
            raise PostgresStartError(f"initdb failed: {proc.stdout}{proc.stderr}")
        server.pg_ctl("start")
        yield server
    finally:
        if (server.data_dir / "postmaster.pid").exists():
            server.pg_ctl("stop", "-m", "immediate", check=False)
        shutil.rmtree(root, ignore_errors=True)
