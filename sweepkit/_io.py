"""Small file helpers shared by the framework: atomic writes and safe names."""

from __future__ import annotations

import functools
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str, max_len: int = 100) -> str:
    """Return ``name`` reduced to ``[A-Za-z0-9._-]``, never empty and never a dot-path."""
    cleaned = _UNSAFE.sub("_", str(name)).strip("._") or "run"
    return cleaned[:max_len]


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (after a rename) where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never a torn one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a new file follows the umask
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    mask = os.umask(0o22)  # the only way to read it; set straight back, once per process
    os.umask(mask)
    return mask


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path | str, obj: Any) -> None:
    atomic_write_text(path, json.dumps(jsonable(obj), indent=2) + "\n")


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON: non-finite floats become None, paths and numpy/torch scalars plain."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "__fspath__"):
        return os.fspath(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy / torch scalar
        return jsonable(value.item())
    return value


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a real, finite number, else None.

    Bools and text (``"0.01"``) are not numbers here: a metric must be one. An integer too
    large for a float (``10**400``) is not finite.
    """
    if value is None or isinstance(value, (bool, str, bytes)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def check_mode(mode: str, name: str = "mode") -> str:
    """Validate an optimisation mode: ``min`` or ``max``."""
    if mode not in ("min", "max"):
        raise ValueError(f"{name} must be 'min' or 'max', got {mode!r}")
    return mode
