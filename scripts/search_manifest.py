"""Search longer for ways to lose a checkpoint (the Hypothesis state machines of the tests: one
metric, and two metrics with a Pareto front).

    SWEEPKIT_SEARCH_EXAMPLES=2000 SWEEPKIT_SEARCH_STEPS=50 python scripts/search_manifest.py

Prints the number of sequences run and their time; a failure prints the shortest sequence of
steps that loses a checkpoint, with the line to reproduce it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    examples = os.environ.setdefault("SWEEPKIT_SEARCH_EXAMPLES", "1000")
    steps = os.environ.setdefault("SWEEPKIT_SEARCH_STEPS", "40")
    os.environ.setdefault("SWEEPKIT_SEARCH_RANDOM", "1")
    start = time.perf_counter()
    code = subprocess.call(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--hypothesis-show-statistics",
            "tests/test_manifest_search.py",
            "tests/test_manifest_pareto_search.py",
        ],
        cwd=REPO,
    )
    print(
        f"{examples} sequences of up to {steps} steps: "
        f"{'no checkpoint lost' if code == 0 else 'FAILED (see above)'} "
        f"in {time.perf_counter() - start:.0f} s"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
