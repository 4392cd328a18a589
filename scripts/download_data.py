#!/usr/bin/env python3
"""Download the public Solar and Wind originals into data/ (needs a network).

    python scripts/download_data.py [--dest data] [--only Solar|Wind]

Files land where the dataset configs look for them (``<dest>/Solar/solar_AL.txt.gz``,
``<dest>/Wind/wind.csv``). Without a network this fails with a clear message; training then
uses a file you place there yourself, ``dataset.path=...``, or the labelled synthetic series.
The Wind file also ships inside the package, so only Solar really needs this script.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import urllib.error
import urllib.request
from pathlib import Path

SOURCES = {
    "Solar": (
        "solar_AL.txt.gz",
        "https://raw.githubusercontent.com/laiguokun/multivariate-time-series-data/master/solar-energy/solar_AL.txt.gz",
        None,
    ),
    "Wind": (
        "wind.csv",
        "https://raw.githubusercontent.com/PaddlePaddle/PaddleSpatial/main/paddlespatial/datasets/WindPower/wind.csv",
        "e97a83b955be5c078c68deaa16c107faca491d7a854016f1133bfb749d4b3f50",
    ),
}


def download(name: str, dest: Path, timeout: float) -> Path:
    filename, url, sha256 = SOURCES[name]
    target = dest / name / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise SystemExit(
            f"error: could not download {name} from {url}: {exc}\n"
            f"No network? Copy the file to {target} yourself, or pass dataset.path=<file>."
        ) from None
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise SystemExit(f"error: {name} download from {url} does not match the expected sha256 {sha256}")
    tmp = target.with_suffix(target.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=Path("data"))
    parser.add_argument("--only", choices=sorted(SOURCES))
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    for name in [args.only] if args.only else sorted(SOURCES):
        print(f"{name}: {download(name, args.dest, args.timeout)}")


if __name__ == "__main__":
    sys.exit(main())
