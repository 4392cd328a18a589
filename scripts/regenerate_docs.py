"""Regenerate the console output the README and docs show, from real runs.

    python scripts/regenerate_docs.py                 # every block (a few minutes on 2 cores)
    python scripts/regenerate_docs.py --only plain    # one block: demo, plain, lightning, compare or pages

Each block lies between ``<!-- output:NAME -->`` and ``<!-- /output:NAME -->`` in its file. The
script runs the block's commands in a scratch folder (one torch thread), keeps the lines worth
reading (timestamps and the scratch folder's path left out), and rewrites the block with the
date it ran. The ``pages`` block also photographs the report and the dashboard in headless
Chromium (``docs/images/report.png``, ``docs/images/dashboard.png``). Nothing is pasted by hand.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STAMP = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\]")


def run(args: list[str], cwd: Path) -> tuple[list[str], float]:
    """Run a command; its output lines (timestamps cut) and the seconds it took."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1", "WANDB_MODE": "disabled", "COLUMNS": "200"}
    env.pop("SWEEPKIT_FAULT_POINT", None)
    start = time.perf_counter()
    proc = subprocess.run(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1200
    )
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    lines = proc.stdout.splitlines()  # stdout and stderr, in the order they were written
    return [STAMP.sub("", line) for line in lines], took


def scrub(lines: list[str], scratch: Path) -> list[str]:
    """Paths inside the scratch folder become relative; the repository's own become ``...``."""
    out = []
    for line in lines:
        line = line.replace(str(scratch) + os.sep, "").replace(str(ROOT) + os.sep, ".../")
        out.append(line.replace(str(scratch), "."))
    return out


def between(lines: list[str], first: str, last: str | None = None) -> list[str]:
    """The lines from the first that contains ``first`` to the last that contains ``last``."""
    start = next(i for i, line in enumerate(lines) if first in line)
    end = max(i for i, line in enumerate(lines) if last in line) if last else len(lines) - 1
    return lines[start : end + 1]


def demo(scratch: Path) -> tuple[str, list[str]]:
    """``make demo``'s sweep and summary (README)."""
    sweep = "outputs/sweeps/demo/" + time.strftime("%Y-%m-%d_%H-%M-%S")
    command = [
        "train.py", "-m", "model=dmixer", "dataset=Wind", "experiment=quick", "hydra.sweeper.n_trials=8",
        "trainer.num_threads=1", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    for name in ("train.py", "conf"):
        (scratch / name).symlink_to(ROOT / name)
    lines, took = run([sys.executable, *command], scratch)
    first_job = [line for line in lines if "[sweepkit.train]" in line][:5]
    tail = between(lines, "Sweep update: 7/8")
    summary, _ = run([str(BIN / "sweepkit"), "summarize", sweep], scratch)
    shown = [*first_job, "...", *tail, f"$ sweepkit summarize {sweep}", *summary]
    return f"the sweep took {took:.0f} s", ["$ make demo", "...", *scrub(shown, scratch)]


def plain(scratch: Path) -> tuple[str, list[str]]:
    """``examples/plain_python_app`` with sweepkit alone (README)."""
    app = scratch / "plain_python_app"
    shutil.copytree(ROOT / "examples" / "plain_python_app", app)
    lines, took = run([sys.executable, "train.py", "-m"], app)
    shown = ["$ cd examples/plain_python_app && python train.py -m", "...", *between(lines, "Sweep update: 12/12")]
    return f"the sweep took {took:.0f} s", scrub(shown, app)


def lightning(scratch: Path) -> tuple[str, list[str]]:
    """``examples/lightning_app``'s sweep and the commands that read it (migration page)."""
    app = scratch / "lightning_app"
    shutil.copytree(ROOT / "examples" / "lightning_app", app)
    lines, took = run([sys.executable, "src/train.py", "hparams_search=spirals"], app)
    ours = re.compile(r"^(\[|  best |  Pareto )")  # Hydra's and sweepkit's lines, not Lightning's
    sweep = [line for line in between(lines, "Sweep update: 7/8") if ours.match(line)]
    shown = ["$ python src/train.py hparams_search=spirals", "...", *sweep]
    for command in (["summarize"], ["report", "-o", "report.html"], ["verify"]):
        out, _ = run([str(BIN / "sweepkit"), *command], app)
        comment = "          # no outputs/ here: logs/ is found" if command == ["summarize"] else ""
        shown += [f"$ sweepkit {' '.join(command)}{comment}", *out]
    return f"the sweep took {took:.0f} s", scrub(shown, app)


def compare(scratch: Path) -> tuple[str, list[str]]:
    """Two small grids of this repository's app, compared, exported and listed (docs/cli.md)."""
    for name in ("train.py", "conf"):
        (scratch / name).symlink_to(ROOT / name)
    grids = {
        "dmixer": ["model=dmixer", "model.d_model=8,16"],
        "linear": ["model=linear", "model.norm=level,last"],
    }
    for model, grid in grids.items():
        sweep = f"outputs/sweeps/{model}/Wind/grid"
        args = ["-m", "sweeper=grid", "dataset=Wind", "experiment=quick", "trainer.max_epochs=1", *grid]
        run([sys.executable, "train.py", *args, "trainer.num_threads=1", f"hydra.sweep.dir={sweep}"], scratch)
    sk = str(BIN / "sweepkit")
    shown: list[str] = []
    for command in (["compare"], ["compare", "--label", "model=linear"], ["export", "-o", "-"]):
        out, _ = run([sk, *command], scratch)
        shown += [f"$ sweepkit {' '.join(command)}" + (" | head -3" if command[0] == "export" else ""), *out]
        if command[0] == "export":
            shown = shown[: len(shown) - len(out) + 3]
    out, _ = run([sk, "list"], scratch / "outputs/sweeps/linear/Wind/grid/0")
    shown += ["$ cd outputs/sweeps/linear/Wind/grid/0 && sweepkit list    # from inside a job's folder", *out]
    return "two 2-job grids, one epoch each", scrub(shown, scratch)


def pages(scratch: Path) -> tuple[str, list[str]]:
    """The demo's sweep as ``report`` and ``dashboard`` show it (docs/cli.md), with screenshots
    of both taken in headless Chromium at 1280 px."""
    sys.path.insert(0, str(ROOT / "tests"))
    from browser import headless_chromium

    for name in ("train.py", "conf"):
        (scratch / name).symlink_to(ROOT / name)
    sweep = "outputs/sweeps/demo/" + time.strftime("%Y-%m-%d_%H-%M-%S")
    command = ["train.py", "-m", "model=dmixer", "dataset=Wind", "experiment=quick", "hydra.sweeper.n_trials=8"]
    run([sys.executable, *command, "trainer.num_threads=1", f"hydra.sweep.dir={sweep}"], scratch)
    report = ["report", sweep, "-o", "report.html", "--png", "plots"]
    out, _ = run([str(BIN / "sweepkit"), *report], scratch)
    shown = [f"$ sweepkit {' '.join(report)}", *out]
    images = ROOT / "docs" / "images"
    images.mkdir(exist_ok=True)
    dashboard = [str(BIN / "sweepkit"), "dashboard", sweep, "--port", "0"]
    server = subprocess.Popen(dashboard, cwd=scratch, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline() if server.stderr else ""
        url = line.split(" at ")[1].split(" ")[0]
        shown += [
            f"$ sweepkit dashboard {sweep}",
            line.rstrip().replace(url.split("/dashboard")[0], "http://127.0.0.1:8080"),
        ]
        with headless_chromium(width=1280, height=900) as page:
            page.open((scratch / "report.html").as_uri())
            page.wait_for("return document.querySelectorAll('.js-plotly-plot .main-svg').length > 0")
            page.screenshot(images / "report.png", height=1500)
            page.open(url)
            page.wait_for("return document.body.innerText.includes('rank_01')")
            page.screenshot(images / "dashboard.png", height=2200)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return "the demo's 8-trial sweep; screenshots in docs/images", scrub(shown, scratch)


BLOCKS = {
    "demo": (demo, "README.md"),
    "plain": (plain, "README.md"),
    "lightning": (lightning, "docs/migrate-from-hydra-optuna-sweeper.md"),
    "compare": (compare, "docs/cli.md"),
    "pages": (pages, "docs/cli.md"),
}


def rewrite(path: Path, name: str, note: str, lines: list[str]) -> None:
    text = path.read_text()
    pattern = re.compile(rf"(<!-- output:{name} -->\n).*?(<!-- /output:{name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path}: no <!-- output:{name} --> block")
    day = datetime.date.today().isoformat()
    body = "```text\n" + "\n".join(lines) + f"\n```\n(Regenerated by `scripts/regenerate_docs.py` on {day}; {note}.)\n"
    path.write_text(pattern.sub(lambda m: m.group(1) + body + m.group(2), text))
    print(f"rewrote the {name} block of {path.relative_to(ROOT)} ({len(lines)} lines; {note})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(BLOCKS), action="append", help="regenerate only this block")
    args = parser.parse_args()
    for name in args.only or list(BLOCKS):
        make, doc = BLOCKS[name]
        with tempfile.TemporaryDirectory(prefix=f"sweepkit-docs-{name}-") as scratch:
            note, lines = make(Path(scratch))
        rewrite(ROOT / doc, name, note, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
