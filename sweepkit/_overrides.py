"""Command-line overrides read with Hydra's own parser (``OverridesParser``), the one grammar.

Hand-splitting on ``=`` and ``,`` miscounts quoted values and lists (``objective=[a,b]`` is one
value, not two); every reader of an override in sweepkit goes through here. Hydra's parser loads
only when an override is read.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Iterable


@cache
def _parser() -> Any:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()  # built once: it compiles Hydra's grammar


def _parsed(overrides: Iterable[Any]) -> list[Any]:
    parser = _parser()
    found = []
    for text in overrides:
        try:
            found.append(parser.parse_override(str(text)))
        except Exception:  # not an override Hydra accepts: it never reached a job
            continue
    return found


_PLAIN = (int, float, str, bool, type(None))


def override_values(overrides: Iterable[Any], skip_hydra: bool = True) -> dict[str, Any]:
    """``{key: value}`` of the overrides that set one value (``model.d_model=8``, ``+x=1``,
    ``model=s5``): numbers, strings, booleans and null as Hydra parsed them, a list or mapping as
    its text (``[val_loss,n_params]``). Sweeps (``a=1,2``) and deletions are left out, and with
    ``skip_hydra`` so are ``hydra.*`` keys."""
    values: dict[str, Any] = {}
    for override in _parsed(overrides):
        key = override.key_or_group
        if override.is_sweep_override() or override.is_delete() or (skip_hydra and key.startswith("hydra.")):
            continue
        value = override.value()
        values[key] = value if isinstance(value, _PLAIN) else str(override.input_line).partition("=")[2]
    return values


def sweep_size(overrides: Iterable[Any]) -> int | None:
    """Jobs a basic-sweeper grid of these overrides runs: the product of each sweep's choices
    (``hydra.*`` keys left out); None when a sweep cannot be counted (an interval)."""
    total = 1
    for override in _parsed(overrides):
        if not override.is_sweep_override() or override.key_or_group.startswith("hydra."):
            continue
        try:
            total *= len(list(override.sweep_string_iterator()))
        except Exception:
            return None
    return total
