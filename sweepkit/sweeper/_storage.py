"""Study storage: a journal file in the sweep directory by default, any Optuna storage by URL."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sweepkit._io import safe_name
from sweepkit.sweeper._search_space import SweepConfigError

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

JOURNAL_FILE = "optuna_journal.log"
# The journal's lock: "symlink" (default) or "open" (O_EXCL file); both work over NFS and are
# broken by a waiter once unchanged for the grace period (a holder that died with its host).
LOCK_ENV = "SWEEPKIT_JOURNAL_LOCK"
GRACE_ENV = "SWEEPKIT_JOURNAL_LOCK_GRACE"
DEFAULT_GRACE_S = 30
_JOURNAL_SCHEME = "journal://"
_PASSWORD = re.compile(r"(://[^:/@]+:)[^@/]*@")


def default_storage_url(sweep_dir: str | Path) -> str:
    """``journal:///abs/<sweep dir>/optuna_journal.log``."""
    return _JOURNAL_SCHEME + str(Path(sweep_dir).resolve() / JOURNAL_FILE)


def default_study_name(sweep_dir: str | Path) -> str:
    """A stable name from the sweep directory's last three parts (model, dataset, time)."""
    parts = Path(sweep_dir).resolve().parts[-3:]
    return safe_name("_".join(parts))


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for logs and result files)."""
    return _PASSWORD.sub(r"\1***@", url)


def journal_path(url: str) -> Path | None:
    """The journal file of a ``journal://`` URL or a plain path; None for other URLs."""
    if url.startswith(_JOURNAL_SCHEME):
        return Path(url[len(_JOURNAL_SCHEME):])
    if "://" not in url:
        return Path(url)
    return None


def journal_lock(path: Path):
    """The journal file's lock, chosen by ``$SWEEPKIT_JOURNAL_LOCK`` and ``..._GRACE`` (seconds)."""
    from optuna.storages.journal import JournalFileOpenLock, JournalFileSymlinkLock

    kinds = {"symlink": JournalFileSymlinkLock, "open": JournalFileOpenLock}
    kind = os.environ.get(LOCK_ENV, "symlink")
    raw_grace = os.environ.get(GRACE_ENV, str(DEFAULT_GRACE_S))
    if kind not in kinds:
        raise SweepConfigError(f"{LOCK_ENV}={kind!r}: use 'symlink' (default) or 'open'")
    try:
        grace = int(raw_grace)
        if grace < 1:
            raise ValueError
    except ValueError:
        raise SweepConfigError(
            f"{GRACE_ENV}={raw_grace!r}: use a whole number of seconds >= 1 (default "
            f"{DEFAULT_GRACE_S}); a lock unchanged that long is taken for dead and broken"
        ) from None
    return kinds[kind](str(path), grace_period=grace)


@functools.lru_cache(maxsize=8)
def open_storage(url: str) -> "BaseStorage":
    """Open (and cache per process) the storage behind ``url``; raise a clear error if it fails."""
    import optuna

    try:
        path = journal_path(url)
        if path is not None:
            from optuna.storages.journal import JournalFileBackend

            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path), journal_lock(path)))
        if url.startswith(("redis://", "rediss://")):
            from optuna.storages.journal import JournalRedisBackend

            return optuna.storages.JournalStorage(JournalRedisBackend(url))
        return optuna.storages.RDBStorage(url)
    except SweepConfigError:
        raise
    except Exception as err:
        raise SweepConfigError(
            f"cannot open the study storage {redact(url)!r}: {type(err).__name__}: {err}\n"
            "Set hydra.sweeper.storage to a writable journal file ('journal:///path/to/file.log'), "
            "an RDB URL ('sqlite:///path/to/file.db', 'postgresql://user@host/db') or null for "
            "a journal file in the sweep directory."
        ) from None
