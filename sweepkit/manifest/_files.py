"""The ``best_models/`` directory: file names, promotion, safe deletion and two-phase re-ranking."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
import stat
from pathlib import Path
from typing import Any, Callable, Iterable

from sweepkit._io import atomic_write_bytes, fsync_dir, safe_name
from sweepkit.records import CHECKPOINT as CKPT
from sweepkit.records import JOB_CONFIG as CONFIG
from sweepkit.records import KEPT_DIR, is_inside
from sweepkit.testing import fault_point

# A kept checkpoint's name ends in ``best_model`` plus its source file's own suffix
# (``rank_01_<label>_best_model.ckpt`` for Lightning's, ``..._best_model.pth`` for sweepkit's).
_CKPT_KIND = r"best_model\.[A-Za-z0-9_]{1,12}"
_KIND = rf"(?:{_CKPT_KIND}|{re.escape(CONFIG)})"
# Names sweepkit itself creates in best_models/: only these are ever deleted there.
OUR_NAMES = re.compile(
    rf"^((rank|front)_\d{{2,}}_.+_{_KIND}"
    rf"|\.{{1,2}}(tmp|incoming)_[0-9a-f]{{16}}_{_KIND}(\..+\.tmp)?)$"
)
_RANK_LABEL = re.compile(rf"^(?:rank|front)_\d{{2,}}_(.+)_{_KIND}$")
_STAGED_KEY = re.compile(r"^\.{1,2}(?:tmp|incoming)_([0-9a-f]{16})_")
#: ``KEPT_DIR``: where files sweepkit will not delete, but cannot leave in ``best_models/``, go.


def checkpoint_kind(source: Any) -> str:
    """``best_model`` plus the suffix of ``source`` (a path), or ``best_model.pth`` when it has
    no usable one: the tail of the names its checkpoint takes in ``best_models/``."""
    suffix = Path(str(source)).suffix if source else ""
    return f"best_model{suffix}" if re.fullmatch(r"\.[A-Za-z0-9_]{1,12}", suffix) and suffix != ".tmp" else CKPT


def entry_kind(entry: dict[str, Any], fresh: bool = False) -> str:
    """The checkpoint kind of a ranked entry: its source's when ``fresh`` (being promoted now),
    else that of the name it has in ``best_models/``, else its source's."""
    if not fresh:
        name = entry.get("file_ckpt") or (Path(entry["checkpoint"]).name if entry.get("checkpoint") else "")
        match = re.search(rf"_({_CKPT_KIND})$", name)
        if match:
            return match.group(1)
    return checkpoint_kind(entry.get("source_checkpoint"))


def is_checkpoint_name(name: str) -> bool:
    """Whether ``name`` is one sweepkit gives a checkpoint in ``best_models/`` (ranked or staged)."""
    return bool(OUR_NAMES.match(name)) and re.search(rf"_{_CKPT_KIND}(\..+\.tmp)?$", name) is not None


def run_key(run_id: str) -> str:
    """A stable 16-hex-digit key of a run id (used in temporary file names)."""
    return hashlib.sha1(str(run_id).encode("utf-8")).hexdigest()[:16]


def final_name(rank: int, label: str, kind: str, prefix: str = "rank") -> str:
    """``rank_01_<label>_<kind>`` (``front_01_...`` for a multi-metric sweep's front)."""
    return f"{prefix}_{rank:02d}_{label}_{kind}"


def tmp_name(key: str, kind: str) -> str:
    return f".tmp_{key}_{kind}"


def incoming_name(key: str, kind: str) -> str:
    return f".incoming_{key}_{kind}"


def labels(entries: Iterable[dict[str, Any]]) -> dict[str, str]:
    """File-name labels of ranked runs: the safe run name, plus the key when names collide."""
    entries = list(entries)
    base = {e["key"]: safe_name(e["run_name"], 60) for e in entries}
    seen: dict[str, int] = {}
    for label in base.values():
        seen[label] = seen.get(label, 0) + 1
    return {k: (lab if seen[lab] == 1 else f"{lab}-{k[:8]}") for k, lab in base.items()}


def guess_names(existing: set[str], entry: dict[str, Any], kind: str) -> list[str]:
    """Rank- or front-named files that carry this run's label (the manifest was lost); for a
    checkpoint ``kind``, of any checkpoint suffix."""
    label = re.escape(safe_name(entry["run_name"], 60))
    tail = re.escape(kind) if kind == CONFIG else _CKPT_KIND
    pattern = re.compile(rf"^(?:rank|front)_\d{{2,}}_{label}(-{entry['key'][:8]})?_{tail}$")
    return sorted(n for n in existing if pattern.match(n))


def staged_names(existing: set[str], key: str) -> list[str]:
    """The run's checkpoints being re-ranked or promoted (``.tmp_<key>_*`` first, then
    ``.incoming_<key>_*``), of any checkpoint suffix."""
    pattern = re.compile(rf"^\.(?:tmp|incoming)_{key}_{_CKPT_KIND}$")
    return sorted((n for n in existing if pattern.match(n)), key=lambda n: (not n.startswith(".tmp_"), n))


def own_file_in(best_dir: Path, run_id: str, run_name: str) -> Path | None:
    """The run's checkpoint already in ``best_dir`` (being promoted, or rank-named), or None."""
    key = run_key(run_id)
    try:
        existing = set(os.listdir(best_dir))
    except (FileNotFoundError, NotADirectoryError):
        return None
    names = [*staged_names(existing, key), *guess_names(existing, {"run_name": run_name, "key": key}, CKPT)]
    found = next((n for n in names if n in existing and is_checkpoint_file(best_dir / n)), None)
    return best_dir / found if found else None


def owner_of(name: str) -> tuple[str, str] | None:
    """Whom a sweepkit file in ``best_models/`` belongs to: ``("label", ...)`` for a rank name,
    ``("key", ...)`` for a staged name, None for any other name."""
    match = _RANK_LABEL.match(name)
    if match:
        return ("label", match.group(1))
    match = _STAGED_KEY.match(name)
    return ("key", match.group(1)) if match else None


def run_marks(entries: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """Every owner mark (:func:`owner_of`) the files of these runs can carry."""
    marks = set()
    for entry in entries:
        key = entry.get("key") or run_key(entry["run_id"])
        label = safe_name(entry["run_name"], 60)
        marks |= {("key", key), ("label", label), ("label", f"{label}-{key[:8]}")}
    return marks


def has_our_files(best_dir: Path) -> bool:
    """Whether ``best_dir`` holds any file sweepkit names (a sweep that has ranked runs)."""
    try:
        return any(OUR_NAMES.match(name) for name in os.listdir(best_dir))
    except (FileNotFoundError, NotADirectoryError):
        return False


def fingerprint(path: str | Path | None) -> str | None:
    """Which file ``path`` is now (size and mtime in ns, links not followed; both survive a
    move or a ``cp -a``); None if nothing is there. A record carries it, so a replay or a
    repair never promotes or deletes a file put there later."""
    try:
        st = os.lstat(path) if path else None
    except OSError:
        return None
    return None if st is None else f"{st.st_size}:{st.st_mtime_ns}"


def is_the_recorded_file(path: str | Path | None, record: dict[str, Any]) -> bool:
    """Whether ``path`` is still the file ``record`` was registered with (True for records
    older than the fingerprint)."""
    return "source_id" not in record or fingerprint(path) == record["source_id"]


def is_checkpoint_file(path: str | os.PathLike[str] | None) -> bool:
    """Whether ``path`` is a non-empty regular file (links followed): something to rank."""
    try:
        st = os.stat(path) if path else None
    except OSError:
        return False
    return st is not None and stat.S_ISREG(st.st_mode) and st.st_size > 0


def rebased(path: Any, old_root: str, new_root: str) -> Any:
    """``path`` moved from below ``old_root`` to the same place below ``new_root`` (a copied
    sweep's view of its own files); any other value as it is."""
    if not isinstance(path, str):
        return path
    try:
        return str(Path(new_root) / Path(path).relative_to(old_root))
    except ValueError:
        return path


def move_aside(best_dir: Path, name: str, log: logging.Logger) -> Path:
    """Move ``best_models/name`` into ``<sweep>/kept_by_sweepkit/`` (never overwriting)."""
    kept = best_dir.parent / KEPT_DIR
    kept.mkdir(exist_ok=True)
    dest, n = kept / name.lstrip("."), 1
    while os.path.lexists(dest):
        dest, n = kept / f"{name.lstrip('.')}.{n}", n + 1
    _rename(best_dir / name, dest, log)
    return dest


def is_owned(path: str | Path | None, sweep_dir: Path) -> bool:
    """A checkpoint sweepkit may move or delete: a regular file (not a link) inside the sweep."""
    if not path:
        return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and is_inside(Path(path).parent, sweep_dir)


def safe_unlink(path: Path, log: logging.Logger) -> int:
    """Remove ``path`` itself (a link is removed, never its target); return bytes freed."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0
    os.unlink(path)
    log.debug("delete %s", path)
    return 0 if stat.S_ISLNK(st.st_mode) else st.st_size


def _rename(src: Path, dst: Path, log: logging.Logger) -> None:
    os.replace(src, dst)
    log.debug("rename %s -> %s", src, dst)


def stage_checkpoint(src: Path, dst: Path, owned: bool, log: logging.Logger) -> str:
    """Bring a checkpoint into best_models/ under ``dst``; return how ("rename", "link", "copy").

    A file sweepkit owns is renamed (moved); any other file is hard-linked, so the user's file
    is never touched. Only across file systems are the bytes copied.
    """
    if owned:
        try:
            _rename(src, dst, log)
            return "rename"
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
    else:
        real = os.path.realpath(src)
        try:
            os.unlink(dst)
        except FileNotFoundError:
            pass
        try:
            os.link(real, dst)
            log.debug("link %s -> %s", real, dst)
            return "link"
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK):
                raise
    tmp = dst.with_name(dst.name + ".copy.tmp")
    shutil.copyfile(os.path.realpath(src), tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    _rename(tmp, dst, log)
    if owned:
        safe_unlink(src, log)
    return "copy"


def _same_file(a: Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def sync_best_models(
    best_dir: Path,
    sweep_dir: Path,
    entries: list[dict[str, Any]],
    fresh: set[str],
    log: logging.Logger,
    actions: list[str],
    deletable: Callable[[str], bool] = lambda name: True,
    why_kept: str = "no known run uses it",
    prefix: str = "rank",
) -> tuple[dict[str, dict[str, str | None]], int, int]:
    """Make ``best_dir`` hold exactly the ranked ``entries``' files under their rank names.

    ``entries`` are ranked dicts with ``key``, ``rank``, ``run_name``, ``source_checkpoint``,
    ``source_config`` and the names they had (``file_ckpt``/``file_config``). For keys in
    ``fresh`` (just registered) the source file is promoted; final names start with ``prefix``
    (``rank`` or ``front``). Steps, each crash-safe: stage new files under ``.incoming_*`` names,
    delete sweepkit files no ranked run uses, rename every file that changes rank to
    ``.tmp_<key>_*``, then to its final name. A ranked checkpoint therefore always exists under
    some name. A file no ranked run uses is deleted
    only when ``deletable(name)``; any other is moved to ``<sweep>/kept_by_sweepkit/``
    (``why_kept`` says why in the action). Returns ({key: {"checkpoint": name, "config": name}},
    checkpoint bytes freed, checkpoints deleted).
    """
    try:
        existing = set(os.listdir(best_dir))
    except FileNotFoundError:
        best_dir.mkdir(parents=True, exist_ok=True)
        existing = set()
    names = labels(entries)
    kinds = {e["key"]: (entry_kind(e, e["key"] in fresh), CONFIG) for e in entries}
    located: dict[tuple[str, str], str] = {}
    used: set[str] = set()
    for entry in entries:
        key = entry["key"]
        for kind in kinds[key]:
            is_ckpt = kind != CONFIG
            final = final_name(entry["rank"], names[key], kind, prefix)
            source = entry.get("source_checkpoint" if is_ckpt else "source_config")
            candidates = [
                tmp_name(key, kind),
                incoming_name(key, kind),
                entry.get("file_ckpt" if is_ckpt else "file_config"),
                final,
                *(staged_names(existing, key) if is_ckpt else []),
                *guess_names(existing, entry, kind),
            ]
            usable: list[str] = [c for c in candidates if c and c in existing and c not in used]
            name = None
            if key in fresh and source and (is_checkpoint_file(source) if is_ckpt else os.path.isfile(source)):
                if is_ckpt and not is_owned(source, sweep_dir):
                    name = next((c for c in usable if _same_file(best_dir / c, source)), None)
                if name is None:
                    name = incoming_name(key, kind)
                    if is_ckpt:
                        how = stage_checkpoint(Path(source), best_dir / name, is_owned(source, sweep_dir), log)
                        fault_point("after_stage")
                        actions.append(f"promote {entry['run_id']} ({how}) {source}")
                    else:
                        atomic_write_bytes(best_dir / name, Path(source).read_bytes())
                        log.debug("write %s", best_dir / name)
            if name is None and usable:
                name = usable[0]
            if name is None and kind == CONFIG and source and os.path.exists(source):
                name = incoming_name(key, kind)
                atomic_write_bytes(best_dir / name, Path(source).read_bytes())
            if name is None:
                if is_ckpt:
                    actions.append(f"ERROR checkpoint of ranked run {entry['run_id']} not found")
                continue
            located[(key, kind)] = name
            used.add(name)
            existing.add(name)
    freed = deleted = 0
    for name in sorted(existing - used):
        if not OUR_NAMES.match(name):
            continue
        if not deletable(name):
            dest = move_aside(best_dir, name, log)
            actions.append(
                f"kept best_models/{name} as {dest.parent.name}/{dest.name} "
                f"({why_kept}); check it and delete it by hand"
            )
            continue
        size = safe_unlink(best_dir / name, log)
        if is_checkpoint_name(name):
            freed, deleted = freed + size, deleted + 1
        actions.append(f"delete best_models/{name}")
        fault_point("after_delete_stray")
    moves = []
    for entry in entries:
        for kind in kinds[entry["key"]]:
            current = located.get((entry["key"], kind))
            final = final_name(entry["rank"], names[entry["key"]], kind, prefix)
            if current and current != final:
                moves.append((entry["key"], kind, current, final))
    for key, kind, current, _ in moves:
        if current != tmp_name(key, kind):
            _rename(best_dir / current, best_dir / tmp_name(key, kind), log)
    fault_point("between_rename_phases")
    for key, kind, _, final in moves:
        _rename(best_dir / tmp_name(key, kind), best_dir / final, log)
        located[(key, kind)] = final
    if moves or freed:
        fsync_dir(best_dir)
    result = {
        e["key"]: {"checkpoint": located.get((e["key"], kinds[e["key"]][0])), "config": located.get((e["key"], CONFIG))}
        for e in entries
    }
    return result, freed, deleted
