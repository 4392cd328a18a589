"""Job events: the top-k hook publishes what happened to a job, loggers subscribe.

Neither side imports the other. The hook (``sweepkit.hooks.TopKCallback``) publishes
:class:`JobRegistered` once the job is in the manifest and :class:`JobEnded` when it is done
with the job (registered or not); a logger such as ``sweepkit.loggers.wandb`` subscribes when
it is imported. Handlers run in the job's process, in the order they subscribed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

#: A Hydra callback class with this attribute set True publishes these events.
PUBLISHER_ATTR = "publishes_job_events"


@dataclass(frozen=True)
class JobRegistered:
    """A job is in the sweep's manifest.

    ``rank`` is its rank (1 = best) and ``checkpoint`` its file in ``best_models/``, both None
    when it is not in the top k.
    """

    sweep_name: str
    rank: int | None
    checkpoint: str | None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobEnded:
    """The hook is done with a job, whether or not it could register it."""


Event = TypeVar("Event", JobRegistered, JobEnded)
_handlers: dict[type, list[Callable[[Any], None]]] = {}


def subscribe(kind: type[Event], handler: Callable[[Event], None]) -> None:
    """Call ``handler(event)`` for every published event of type ``kind`` (once per handler)."""
    handlers = _handlers.setdefault(kind, [])
    if handler not in handlers:
        handlers.append(handler)


def unsubscribe(kind: type[Event], handler: Callable[[Event], None]) -> None:
    handlers = _handlers.get(kind, [])
    if handler in handlers:
        handlers.remove(handler)


def subscribed(kind: type) -> bool:
    """Whether anyone listens for ``kind`` (the publisher may skip building the event)."""
    return bool(_handlers.get(kind))


def publish(event: JobRegistered | JobEnded) -> None:
    for handler in list(_handlers.get(type(event), ())):
        handler(event)
