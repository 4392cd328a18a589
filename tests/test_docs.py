"""Every Python block of the README and docs/ runs as written (in a scratch folder), given only
the names its text says come from the reader's own code (``train_and_validate``, ...)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks() -> list[tuple[str, int, str]]:
    found = []
    for doc in DOCS:
        for i, block in enumerate(re.findall(r"^```python\n(.*?)^```", doc.read_text(), re.S | re.M)):
            found.append((str(doc.relative_to(ROOT)), i, block))
    return found


def reader_code(tmp_path: Path) -> dict[str, object]:
    """What a block leaves to the reader: their training loop, files they already have."""
    for name in ("path/to/model.pth", "path/to/config.yaml", "7/best_model.pth"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    losses = iter([0.5, 0.4, 0.45])

    class Model:
        def state_dict(self) -> dict[str, int]:
            return {"w": 1}

    class Torch:
        @staticmethod
        def save(obj: object, path: str) -> None:
            Path(path).write_text(repr(obj))

    return {
        "run_dir": tmp_path / "run",
        "max_epochs": 3,
        "train_and_validate": lambda: next(losses),
        "validate": lambda: next(losses),
        "model": Model(),
        "torch": Torch,
        "test_mse": 0.3,
        "value": 0.5,
        "step": 1,
    }


BLOCKS = python_blocks()


def test_the_docs_have_python_blocks():
    assert {doc for doc, _, _ in BLOCKS} >= {"README.md", "docs/manifest.md", "docs/run-record.md"}


@pytest.mark.parametrize("doc, index, code", BLOCKS, ids=[f"{d}#{i}" for d, i, _ in BLOCKS])
def test_a_python_block_runs_as_written(tmp_path, monkeypatch, doc, index, code):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWEEPKIT_FAULT_POINT", raising=False)
    namespace = reader_code(tmp_path)
    if "SweepManager(" in code and "import SweepManager" not in code:  # a block that goes on from the one above
        namespace["SweepManager"] = __import__("sweepkit").SweepManager
    exec(compile(code, f"{doc} block {index}", "exec"), namespace)
    assert os.getcwd() == str(tmp_path)
