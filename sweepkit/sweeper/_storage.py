"""Study storage: a journal file in the sweep directory by default, any Optuna storage by URL."""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepkit._io import safe_name
from sweepkit.errors import SweepConfigError
from sweepkit.records import JOURNAL_NAME

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

# The journal's lock: "symlink" (default) or "open" (O_EXCL file); both work over NFS and are
# broken by a waiter once unchanged for the grace period (a holder that died with its host).
LOCK_ENV = "SWEEPKIT_JOURNAL_LOCK"
GRACE_ENV = "SWEEPKIT_JOURNAL_LOCK_GRACE"
DEFAULT_GRACE_S = 30
_JOURNAL_SCHEME = "journal://"
# user:password@ after the scheme; the password may hold any character but @, blanks and quotes
_PASSWORD = re.compile(r"(://[^:/@\s'\"]*:)[^@\s'\"]+@")
# Seconds an RDB connection attempt may take before the sweep stops with an error.
CONNECT_TIMEOUT_ENV = "SWEEPKIT_DB_CONNECT_TIMEOUT"
DEFAULT_CONNECT_TIMEOUT_S = 10
# The Python driver each SQLAlchemy URL scheme needs, and how to install it.
_DRIVERS = {
    "postgresql": ("psycopg", "pip install 'sweepkit[postgres]' (psycopg 3)"),
    "postgresql+psycopg": ("psycopg", "pip install 'sweepkit[postgres]' (psycopg 3)"),
    "postgresql+psycopg2": ("psycopg2", "pip install psycopg2-binary"),
    "mysql": ("MySQLdb", "pip install mysqlclient"),
    "mysql+pymysql": ("pymysql", "pip install pymysql"),
}
# Seconds an RDB operation is retried while the database is unreachable (a restart, a fail-over).
RETRY_ENV = "SWEEPKIT_DB_RETRY_S"
DEFAULT_RETRY_S = 60
log = logging.getLogger("sweepkit.sweeper")


def default_storage_url(sweep_dir: str | Path) -> str:
    """``journal:///abs/<sweep dir>/optuna_journal.log``."""
    return _JOURNAL_SCHEME + str(Path(sweep_dir).resolve() / JOURNAL_NAME)


def default_study_name(sweep_dir: str | Path) -> str:
    """A stable name from the sweep directory's last three parts (model, dataset, time)."""
    parts = Path(sweep_dir).resolve().parts[-3:]
    return safe_name("_".join(parts))


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (for logs and result files)."""
    return _PASSWORD.sub(r"\1***@", url)


def has_password(url: str) -> bool:
    return bool(_PASSWORD.search(url))


def warn_if_password(raw: object) -> None:
    """Warn when ``hydra.sweeper.storage`` (as written, before interpolation) holds a password.

    Hydra saves the config as written into every job's ``.hydra/hydra.yaml``; an
    ``${oc.env:...}`` interpolation is saved as written, so the password stays out.
    """
    if isinstance(raw, str) and "${" not in raw and has_password(raw):
        log.warning(
            f"hydra.sweeper.storage {redact(raw)!r} holds a password in clear: Hydra saves it in "
            "every job's .hydra/hydra.yaml. Put the URL in an environment "
            "variable and write hydra.sweeper.storage='${oc.env:SWEEPKIT_STORAGE}' instead "
            "(sweepkit's own files and logs mask it)."
        )


def journal_path(url: str) -> Path | None:
    """The journal file of a ``journal://`` URL or a plain path; None for other URLs."""
    if url.startswith(_JOURNAL_SCHEME):
        return Path(url[len(_JOURNAL_SCHEME) :])
    if "://" not in url:
        return Path(url)
    return None


def journal_lock(path: Path) -> Any:
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


def check_driver(url: str) -> None:
    """Refuse an RDB URL whose database driver is not installed, naming the package."""
    scheme = url.split("://", 1)[0].lower()
    module, install = _DRIVERS.get(scheme, (None, ""))
    if module is not None and importlib.util.find_spec(module) is None:
        hint = " (or postgresql+psycopg2://... with psycopg2 installed)" if module == "psycopg" else ""
        raise SweepConfigError(
            f"the study storage {redact(url)!r} needs the Python package {module!r}, which is not "
            f"installed: {install}{hint}"
        )


def rdb_engine_kwargs(url: str) -> dict[str, Any]:
    """SQLAlchemy engine options: a connect timeout (no hang on an unreachable server) and a
    liveness check of pooled connections (a restarted server costs one reconnect, not an error)."""
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    scheme = url.split("://", 1)[0].lower()
    if scheme.startswith(("postgresql", "mysql")) and "connect_timeout=" not in url:
        raw = os.environ.get(CONNECT_TIMEOUT_ENV, str(DEFAULT_CONNECT_TIMEOUT_S))
        try:
            timeout = int(raw)
            if timeout < 1:
                raise ValueError
        except ValueError:
            raise SweepConfigError(f"{CONNECT_TIMEOUT_ENV}={raw!r}: use a whole number of seconds >= 1") from None
        kwargs["connect_args"] = {"connect_timeout": timeout}
    return kwargs


@functools.lru_cache(maxsize=8)
def open_storage(url: str) -> "BaseStorage":
    """Open (and cache per process) the storage behind ``url``; raise a clear error if it fails."""
    import optuna

    check_driver(url)
    path = journal_path(url)
    try:
        if path is not None:
            from optuna.storages.journal import JournalFileBackend

            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path), journal_lock(path)))
        if url.startswith(("redis://", "rediss://")):
            from optuna.storages.journal import JournalRedisBackend

            return optuna.storages.JournalStorage(JournalRedisBackend(url))
        return _open_rdb(url)
    except SweepConfigError:
        raise
    except Exception as err:
        if path is not None:
            check_journal(path)
        raise SweepConfigError(
            f"cannot open the study storage {redact(url)!r}: {type(err).__name__}: {err}\n"
            "Set hydra.sweeper.storage to a writable journal file ('journal:///path/to/file.log'), "
            "an RDB URL ('sqlite:///path/to/file.db', 'postgresql://user@host/db') or null for "
            "a journal file in the sweep directory."
        ) from None


def check_journal(path: Path) -> None:
    """Refuse a journal file that Optuna cannot read (a write cut short in its middle), naming
    the file, the line and the fix."""
    from sweepkit.sweeper._journal import damaged_journal_lines

    damaged = damaged_journal_lines(path)
    if damaged:
        raise SweepConfigError(
            f"the study journal {path} is damaged: line {damaged[0]} is not a whole record (a write cut "
            f"short by a crash), so Optuna cannot read it. Run `sweepkit verify --repair {path.parent}` "
            "to mend it (it keeps a copy aside), then launch again"
        )


def _open_rdb(url: str) -> "BaseStorage":
    """The RDB storage; sweeps that create the schema of a new database at the same moment race
    on ``CREATE TABLE`` / ``CREATE TYPE``: the loser tries again and finds the schema made."""
    import sqlalchemy.exc

    for attempt in range(4):
        try:
            storage: BaseStorage = _retrying_rdb_class()(url, engine_kwargs=rdb_engine_kwargs(url))
            return storage
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == 3:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _connection_lost(err: "BaseException | None") -> "BaseException | None":
    """The error in ``err``'s chain that says the database is unreachable; None for a bad request."""
    import sqlalchemy.exc

    seen = 0
    while err is not None and seen < 5:
        if isinstance(err, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
            return err
        if isinstance(err, sqlalchemy.exc.DBAPIError) and err.connection_invalidated:
            return err
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


# What Optuna's cached storage calls on its RDB backend (public and private).
_RETRIED = (
    "create_new_study",
    "delete_study",
    "get_all_studies",
    "get_study_directions",
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_system_attrs",
    "get_study_user_attrs",
    "set_study_system_attr",
    "set_study_user_attr",
    "get_trial",
    "get_trial_id_from_study_id_trial_number",
    "set_trial_intermediate_value",
    "set_trial_state_values",
    "set_trial_system_attr",
    "set_trial_user_attr",
    "record_heartbeat",
    "_create_new_trial",
    "_get_best_trial_id",
    "_get_stale_trial_ids",
    "_get_trials",
    "_set_trial_param",
    "get_all_trials",
    "get_n_trials",
)


@functools.lru_cache(maxsize=1)
def _retrying_rdb_class() -> type:
    """``RDBStorage`` whose operations wait out a database that is briefly unreachable.

    An operation that fails because the connection was lost is retried (0.5 s, doubling to
    4 s) for up to ``$SWEEPKIT_DB_RETRY_S`` seconds (default 60), then the error is raised. A
    tell whose first attempt committed before the connection dropped is not told twice.
    """
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError

    def retried(name: str) -> Any:
        method = getattr(optuna.storages.RDBStorage, name)

        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            deadline, pause, attempt = None, 0.5, 0
            while True:
                try:
                    return method(self, *args, **kwargs)
                except UpdateFinishedTrialError:
                    if attempt and name == "set_trial_state_values":
                        return True  # the lost attempt had committed
                    raise
                except Exception as err:
                    lost = _connection_lost(err)
                    if lost is None:
                        raise
                    now = time.monotonic()
                    deadline = deadline or now + _retry_seconds()
                    if now >= deadline:
                        raise
                    if attempt == 0:
                        log.warning(
                            f"study storage unreachable ({type(lost).__name__}); retrying "
                            f"for up to {_retry_seconds():g} s ({RETRY_ENV})"
                        )
                    time.sleep(pause)
                    pause, attempt = min(pause * 2, 4.0), attempt + 1

        return wrapper

    namespace = {name: retried(name) for name in _RETRIED if hasattr(optuna.storages.RDBStorage, name)}
    return type("RetryingRDBStorage", (optuna.storages.RDBStorage,), namespace)


def _retry_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(RETRY_ENV, DEFAULT_RETRY_S)))
    except ValueError:
        return float(DEFAULT_RETRY_S)
