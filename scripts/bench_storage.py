"""Ask+tell latency of a study on the journal file vs PostgreSQL, at 100 and 2,000 trials.

    python scripts/bench_storage.py                    # starts a PostgreSQL server in a temp dir
    python scripts/bench_storage.py --postgres-url postgresql://user:pw@host/db

Each backend gets a fresh study (random sampler, one float parameter, so the storage is what is
timed) opened through sweepkit's ``open_storage``, as a sweep opens it; trials are asked and told
one after another up to each size, and the latency of ask + suggest + tell is reported over the
last ``--window`` trials before that size (median and 90th percentile, in ms).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def measure(storage, sizes: list[int], window: int) -> dict[int, tuple[float, float]]:
    import optuna

    study = optuna.create_study(
        storage=storage, study_name=f"bench_{time.time_ns()}", sampler=optuna.samplers.RandomSampler(seed=0)
    )
    latencies = []
    for _ in range(max(sizes)):
        started = time.perf_counter()
        trial = study.ask()
        study.tell(trial, trial.suggest_float("x", 0.0, 1.0))
        latencies.append(time.perf_counter() - started)
    result = {}
    for size in sizes:
        part = sorted(latencies[size - window : size])
        result[size] = (statistics.median(part) * 1e3, part[int(0.9 * (len(part) - 1))] * 1e3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres-url", help="an empty database (default: start a server)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 2000])
    parser.add_argument("--window", type=int, default=50)
    args = parser.parse_args()

    import optuna

    from sweepkit.sweeper._storage import open_storage, redact

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with contextlib.ExitStack() as stack:
        url = args.postgres_url
        if url is None:
            from postgres_server import postgres_server

            url = stack.enter_context(postgres_server()).new_database("bench")
        journal = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "optuna_journal.log"
        backends = {"journal": "journal://" + str(journal), "postgresql": url}
        results = {}
        for name, backend_url in backends.items():
            print(f"{name}: {redact(backend_url)}", flush=True)
            started = time.perf_counter()
            results[name] = measure(open_storage(backend_url), args.sizes, args.window)
            print(f"  {max(args.sizes)} trials in {time.perf_counter() - started:.1f} s", flush=True)

    print(f"\nask+tell latency, ms (median / p90 of trials {args.window} before each size)")
    print(f"{'backend':>10} | " + " | ".join(f"{n:>6} trials" for n in args.sizes))
    for name, by_size in results.items():
        print(f"{name:>10} | " + " | ".join(f"{m:5.2f} / {p:5.2f}" for m, p in by_size.values()))
    ratios = ", ".join(f"at {n}: {results['postgresql'][n][0] / results['journal'][n][0]:.2f}x" for n in args.sizes)
    print(f"PostgreSQL / journal (median): {ratios}")
    growth = {name: by[max(args.sizes)][0] / by[min(args.sizes)][0] for name, by in results.items()}
    print(
        "growth from the smallest to the largest size: " + ", ".join(f"{name} {g:.2f}x" for name, g in growth.items())
    )


if __name__ == "__main__":
    main()
