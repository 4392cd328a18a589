"""On-disk formats of a sweep: the append-only run log and the JSON manifest.

``runs.jsonl`` is the source of truth: one JSON object per registration, appended under the
sweep lock and fsync'd before the registration returns (a later line for the same ``run_id``
supersedes an earlier one).
``sweep_results.json`` is the manifest: sweep-level fields, counts, the ranked top k and the
byte length of the log it reflects; it is replaced atomically (temp file + rename) whenever the
top k changes, and otherwise once it lags the log by a few records (readers replay that tail).
``.sweepkit/registered/<key>`` marks a run id as (possibly) registered.
"""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

from sweepkit._io import atomic_write_text
from sweepkit.errors import ManifestCorruptError
from sweepkit.records import LOG_NAME, MANIFEST_FORMAT, MANIFEST_FORMATS, upgrade_record
from sweepkit.testing import FAULT_ENV, fault_point

SETTINGS_FIELDS = ("format", "metric_name", "mode", "top_k", "objectives", "created_at")
_ANCHOR = ".anchor"
FORMAT_VERSION = MANIFEST_FORMAT


def dumps(obj: Any) -> str:
    """Compact strict JSON (the C encoder; callers pass values already made :func:`jsonable`)."""
    return json.dumps(obj, allow_nan=False, separators=(",", ":"))


def append_record(path: Path, record: dict[str, Any], fsync: bool = True) -> tuple[int, int]:
    """Append ``record`` as one line; return (offset of the line, new log length).

    ``fsync=False`` leaves the flush to a later :func:`flush_file` (the manager's group commit).
    """
    data = (dumps(record) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        offset = os.fstat(fd).st_size
        if os.environ.get(FAULT_ENV) == "mid_log_append":
            os.write(fd, data[: len(data) // 2])
            fault_point("mid_log_append")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return offset, offset + len(data)


def file_size(path: Path) -> int:
    """The size of ``path`` in bytes; 0 when it does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def flush_file(path: Path) -> None:
    """fsync ``path``: every byte any process appended to it so far reaches the disk."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_log(path: Path, start: int = 0) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """Read complete lines of the log from byte ``start``.

    Returns ``([(offset, record), ...], end)`` where ``end`` is the byte just after the last
    complete line. A final line without a newline (a crash mid-append) is ignored; any other
    line that does not parse raises :class:`ManifestCorruptError` naming the file and line.
    """
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read()
    except FileNotFoundError:
        return [], start
    fast = _parse_all(data, start)
    if fast is not None:
        return fast
    records: list[tuple[int, dict[str, Any]]] = []
    pos = 0
    while True:
        newline = data.find(b"\n", pos)
        if newline < 0:
            break
        line = data[pos:newline]
        if line.strip():
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or "run_id" not in record:
                    raise ValueError("not a run record")
            except ValueError as exc:
                offset = start + pos
                raise ManifestCorruptError(
                    f"{path}: line at byte {offset} is not a valid run record ({exc}). "
                    "Run `sweepkit verify --repair` (SweepManager.repair()) to keep a copy of "
                    "the log aside and drop the bad lines.",
                    path,
                ) from None
            records.append((start + pos, upgrade_record(record)))
        pos = newline + 1
    return records, start + pos


def line_starts_at(path: Path, offset: int) -> bool:
    """Whether a line of the log starts at byte ``offset`` and is a run record (or the file
    ends there): the log goes on from where a manifest that says ``offset`` left it."""
    try:
        with open(path, "rb") as handle:
            if offset:
                handle.seek(offset - 1)
                if handle.read(1) != b"\n":
                    return False
            line = handle.readline()
    except OSError:
        return False
    if not line.endswith(b"\n"):
        return True  # the end, or a torn last line (read_log ignores it)
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "run_id" in record


def _parse_all(data: bytes, start: int) -> tuple[list[tuple[int, dict[str, Any]]], int] | None:
    """The common case of :func:`read_log`, every line a good record: one parse for all of
    them. None when any line is blank or bad (the caller then finds which, line by line)."""
    end = data.rfind(b"\n") + 1
    lines = data[:end].split(b"\n")[:-1]
    if not all(line.strip() for line in lines):
        return None
    try:
        parsed = json.loads(b"[" + b",".join(lines) + b"]")
    except ValueError:
        return None
    if len(parsed) != len(lines) or not all(isinstance(r, dict) and "run_id" in r for r in parsed):
        return None
    records, pos = [], start
    for line, record in zip(lines, parsed):
        records.append((pos, upgrade_record(record)))
        pos += len(line) + 1
    return records, start + end


def latest_records(path: Path) -> list[dict[str, Any]]:
    """Every run's latest record from the log, in first-registration order."""
    latest: dict[str, dict[str, Any]] = {}
    for _, record in read_log(path)[0]:
        latest[record["run_id"]] = record
    return sorted(latest.values(), key=lambda r: r.get("seq", 0))


def find_record(path: Path, run_id: str, end: int | None = None) -> dict[str, Any] | None:
    """The latest record of ``run_id`` in the log's first ``end`` bytes (None: not there).

    Searches the bytes for the run id and parses only the lines that hold it, from the end;
    used for the rare re-registration of a run id, never on the common path.
    """
    needle = b'"run_id":' + json.dumps(run_id).encode()
    try:
        with open(path, "rb") as handle:
            data = handle.read() if end is None else handle.read(end)
    except FileNotFoundError:
        return None
    pos = len(data)
    while (pos := data.rfind(needle, 0, pos)) >= 0:
        start = data.rfind(b"\n", 0, pos) + 1
        stop = data.find(b"\n", pos)
        if stop >= 0:  # else: a torn last line, which readers ignore
            try:
                record = json.loads(data[start:stop])
            except ValueError:
                record = None
            if isinstance(record, dict) and record.get("run_id") == run_id:
                return upgrade_record(record)
        pos = start
    return None


def mark_registered(marker_dir: Path, key: str) -> bool:
    """Create the marker ``marker_dir/key``; False when it already exists.

    A marker is a hard link to one shared empty file: a directory entry, no new inode, so it
    costs far less than creating a file. Where hard links are not available (or the link count
    is exhausted) it is an empty file. A marker only says "maybe registered": its absence means
    the run id was never registered; its presence sends the caller to the log.
    """
    target = os.path.join(marker_dir, key)
    for attempt in range(2):
        try:
            os.link(os.path.join(marker_dir, _ANCHOR), target)
            return True
        except FileExistsError:
            return False
        except FileNotFoundError:
            if attempt:
                raise
            os.makedirs(marker_dir, exist_ok=True)
            os.close(os.open(os.path.join(marker_dir, _ANCHOR), os.O_WRONLY | os.O_CREAT, 0o644))
        except OSError as exc:
            if exc.errno not in (errno.EMLINK, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            break
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        return True
    except FileExistsError:
        return False


def markers_lost(marker_dir: Path, n_runs: int) -> bool:
    """Whether the markers in ``marker_dir`` count fewer runs than ``n_runs`` (the manifest's):
    the hidden folder was lost or thinned, so an unmarked run id may still be in the log.

    One ``stat`` in the common case (the shared file's link count is the number of markers);
    a directory listing where markers are plain files.
    """
    if n_runs == 0:
        return False
    try:
        if os.stat(os.path.join(marker_dir, _ANCHOR)).st_nlink - 1 >= n_runs:
            return False
        return len(os.listdir(marker_dir)) - 1 < n_runs
    except FileNotFoundError:
        return True


def rebuild_markers(marker_dir: Path, keys: Iterable[str]) -> None:
    """Mark every key in ``keys`` (the run ids of the log), keeping the markers already there."""
    for key in keys:
        mark_registered(marker_dir, key)


def move_aside(path: Path) -> Path:
    """Rename a corrupt file to ``<name>.corrupt-<timestamp>`` (never overwriting one)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while dest.exists():
        dest = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    os.replace(path, dest)
    return dest


def read_manifest(path: str | os.PathLike[str], move_corrupt: bool = True) -> dict[str, Any] | None:
    """Parse ``sweep_results.json``; None when absent.

    A file that does not parse raises :class:`ManifestCorruptError` naming it. With
    ``move_corrupt`` (the manager's default) the file is first moved aside to
    ``<name>.corrupt-<ts>`` so a rebuild never overwrites it; read-only callers (the CLI) pass
    ``move_corrupt=False`` and the file stays where it is.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(data)  # bytes: a bad encoding is a ValueError too
        if not isinstance(doc, dict) or doc.get("format") not in MANIFEST_FORMATS or "log" not in doc:
            raise ValueError("not a sweepkit manifest (format/log fields missing)")
    except ValueError as exc:
        reason = str(exc)
        advice = f"Run `sweepkit verify --repair` (SweepManager.repair()) to rebuild it from {LOG_NAME}."
        if not move_corrupt:
            raise ManifestCorruptError(f"{path} is corrupt ({reason}). {advice}", path, reason=reason) from None
        moved = move_aside(path)
        raise ManifestCorruptError(
            f"{path} is corrupt ({reason}); it was moved to {moved.name}. {advice}", path, moved, reason
        ) from None
    return _upgrade_manifest(doc)


def _upgrade_manifest(doc: dict[str, Any]) -> dict[str, Any]:
    """An older manifest in the current format's fields (in memory; the next save writes it)."""
    if doc["format"] != FORMAT_VERSION:
        named = {k: doc.pop(k, None) for k in ("model", "dataset")}  # format 1's labels
        doc.setdefault("labels", {k: str(v) for k, v in named.items() if v is not None} or None)
        for key in ("top", "front", "runs"):
            for entry in doc.get(key) or ():
                if isinstance(entry, dict):
                    upgrade_record(entry)
        if isinstance(doc.get("best"), dict):
            upgrade_record(doc["best"])
        doc["format"] = FORMAT_VERSION
    return doc


def write_json(path: Path, doc: dict[str, Any], durable: bool = False, indent: int | None = None) -> None:
    """Replace ``path`` atomically: readers see the old or the new file, never a torn one.

    The text goes to a temporary file in the same directory, which is renamed over ``path``.
    ``durable`` adds fsync of the file and of the directory (the end-of-sweep manifest); the
    per-registration manifest skips them because it is rebuilt from the fsync'd log.
    """
    if indent is None:
        text = dumps(doc) + "\n"
    else:
        text = json.dumps(doc, allow_nan=False, indent=indent) + "\n"
    if durable:
        atomic_write_text(path, text)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def read_settings(settings_path: Path, results_path: Path | None) -> dict[str, Any]:
    """The sweep's metric_name, mode, top_k and (several metrics) objectives: from
    ``.sweepkit/settings.json``, else from ``sweep_results.json`` (when ``results_path`` is
    given); {} when neither says."""
    for path in (settings_path, results_path):
        if path is None:
            continue
        try:
            doc = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("format") in MANIFEST_FORMATS:
            return {k: doc[k] for k in ("metric_name", "mode", "top_k", "objectives") if doc.get(k) is not None}
    return {}
