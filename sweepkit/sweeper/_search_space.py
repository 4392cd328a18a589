"""The stock Optuna sweeper's search-space grammar, mapped onto current Optuna distributions.

========================================  ==============================================
expression                                distribution
========================================  ==============================================
``interval(a, b)``                        ``FloatDistribution(a, b)``
``tag(log, interval(a, b))``              ``FloatDistribution(a, b, log=True)``
``int(interval(a, b))``                   ``IntDistribution(a, b)`` (``tag(log, ...)``: log)
``range(a, b, step)``                     ``IntDistribution(a, b, step)`` /
                                          ``FloatDistribution`` with a step; as in the stock
                                          plugin ``b`` is the high end (included when it
                                          lies on the step grid); a grid sampler enumerates
                                          Hydra's range (``b`` excluded), as the stock plugin
``choice(x, y, ...)``, ``x,y,...``        ``CategoricalDistribution``
``shuffle(range(...))``                   ``CategoricalDistribution`` of the range's values
anything else (``lr=0.1``, ``model=s5``)  a fixed override passed to every job
========================================  ==============================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from omegaconf import DictConfig, OmegaConf

from sweepkit.errors import SweepConfigError

if TYPE_CHECKING:  # optuna is imported lazily: building configs must stay cheap
    from optuna.distributions import BaseDistribution


_PRIMITIVES = (str, int, float, bool)


@dataclass
class SearchSpace:
    """Parsed ``params``: distributions to sample and fixed overrides for every job."""

    distributions: dict[str, "BaseDistribution"] = field(default_factory=dict)
    fixed: dict[str, str] = field(default_factory=dict)  # key -> "key=value" override
    prefixes: dict[str, str] = field(default_factory=dict)  # key -> "", "+" or "++"
    sources: dict[str, str] = field(default_factory=dict)  # key -> text it came from
    ranges: dict[str, list[Any]] = field(default_factory=dict)  # key -> Hydra's values of a range

    def override(self, key: str, value: Any) -> str:
        """The command-line override that sets ``key`` to a sampled ``value`` in a job."""
        return f"{self.prefixes.get(key, '')}{key}={format_value(value)}"

    def grid_values(self, key: str) -> list[Any]:
        """The values a grid sampler enumerates for ``key``."""
        if key in self.ranges:
            return list(self.ranges[key])
        return grid_values(key, self.distributions[key])


def parse_search_space(params: Mapping[str, Any] | None, arguments: Sequence[str] = ()) -> SearchSpace:
    """Parse the config's ``params`` then the command-line ``arguments`` (later ones win)."""
    entries = [(f"{key}={value}", "hydra.sweeper.params") for key, value in (params or {}).items()]
    entries += [(arg, "the command line") for arg in arguments]
    parser = OverridesParser.create()
    space = SearchSpace()
    for text, where in entries:
        try:
            override = parser.parse_override(text)
        except Exception as err:  # Hydra's parser raises several exception types
            raise SweepConfigError(
                f"cannot parse the search-space entry {text!r} from {where}: {err}\n"
                "Use the grammar interval(a, b), int(interval(a, b)), range(a, b, step), "
                "choice(x, y), tag(log, interval(a, b)) or a comma list x,y,z."
            ) from None
        key = override.key_or_group
        if override.package is not None:
            key = f"{key}@{override.package}"
        space.distributions.pop(key, None)
        space.fixed.pop(key, None)
        space.ranges.pop(key, None)
        space.sources[key] = f"{text!r} ({where})"
        if override.is_sweep_override():
            space.distributions[key] = to_distribution(override, text)
            space.prefixes[key] = _prefix(override)
            value = override.value()
            if isinstance(value, RangeSweep) and not value.shuffle:
                space.ranges[key] = list(override.sweep_iterator())
        elif override.is_delete():
            space.fixed[key] = str(override.input_line or f"~{key}")
        else:
            space.fixed[key] = f"{override.get_key_element()}={override.get_value_element_as_str()}"
    return space


def _prefix(override: Override) -> str:
    if override.is_force_add():
        return "++"
    return "+" if override.is_add() else ""


def to_distribution(override: Override, text: str) -> "BaseDistribution":
    """Map one sweep override to an Optuna distribution, or raise a :class:`SweepConfigError`."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    value = override.value()
    try:
        if isinstance(value, IntervalSweep):
            log = "log" in value.tags
            start: Any = value.start  # both set: Hydra's parser requires them
            end: Any = value.end
            if isinstance(start, int) and isinstance(end, int):
                return IntDistribution(start, end, log=log)
            return FloatDistribution(float(start), float(end), log=log)
        if isinstance(value, RangeSweep) and not value.shuffle:
            return _range_distribution(value)
        if isinstance(value, (ChoiceSweep, RangeSweep)):
            choices = list(override.sweep_iterator())
            bad = [c for c in choices if not isinstance(c, _PRIMITIVES)]
            if bad:
                raise ValueError(f"choices must be str, int, float or bool, got {bad[0]!r}")
            if not choices:
                raise ValueError("no choices")
            return CategoricalDistribution(choices)  # type: ignore[arg-type]  # primitives, checked above
    except (ValueError, TypeError) as err:
        raise SweepConfigError(f"invalid search-space entry {text!r}: {err}") from None
    raise SweepConfigError(f"the search-space entry {text!r} is not a supported sweep")


def _range_distribution(value: RangeSweep) -> "BaseDistribution":
    """The stock mapping: ``range(a, b, step)`` -> a distribution from a to b (b included)."""
    from optuna.distributions import FloatDistribution, IntDistribution

    start: Any = value.start
    stop: Any = value.stop
    step: Any = value.step if value.step is not None else 1
    if not step:
        raise ValueError("the step is 0")
    low, high = (start, stop) if step > 0 else (stop, start)
    step = abs(step)
    if high < low:
        raise ValueError("the range is empty")
    if all(isinstance(v, int) for v in (start, stop, step)):
        return IntDistribution(low, low + (high - low) // step * step, step=step)
    n_steps = math.floor((high - low) / step + 1e-9)  # the last point on the grid, as Optuna
    return FloatDistribution(float(low), float(low + n_steps * step), step=float(step))


def format_value(value: Any) -> str:
    """Render a sampled value so Hydra's override parser reads back the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    text = str(value)
    try:
        parsed = OverridesParser.create().parse_override(f"k={text}").value()
    except Exception:
        parsed = None
    if parsed == text and isinstance(parsed, str):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def check_keys(space: SearchSpace, config: DictConfig, is_group: Callable[[str], bool] = lambda key: False) -> None:
    """Every key must name a config value or a config group of ``config`` (unless ``+key``);
    ``is_group(key)``: whether the app's config search path has that group (one the config left
    null, chosen as ``logger=[]``, is none of the config's values)."""
    choices = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    missing = object()
    for key in list(space.distributions) + list(space.fixed):
        if space.prefixes.get(key) or space.fixed.get(key, "").startswith(("+", "~")):
            continue
        plain = key.split("@", 1)[0]
        if plain in choices or is_group(plain):
            continue
        if OmegaConf.select(config, plain, default=missing, throw_on_missing=False) is not missing:
            continue
        parent, _, leaf = plain.rpartition(".")
        node = OmegaConf.select(config, parent, default=None) if parent else config
        known = sorted(str(k) for k in node.keys()) if isinstance(node, DictConfig) else []
        hint = f" Keys under '{parent or '<root>'}': {', '.join(known)}." if known else ""
        raise SweepConfigError(
            f"search-space key '{plain}' from {space.sources[key]} does not exist in the "
            f"composed config.{hint} Fix the name, or write '+{plain}=...' to add a new key."
        )


def grid_values(name: str, distribution: "BaseDistribution") -> list[Any]:
    """The values a grid sampler enumerates for one parameter (discrete distributions only)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    if isinstance(distribution, IntDistribution) and not distribution.log:
        return list(range(distribution.low, distribution.high + 1, distribution.step))
    if isinstance(distribution, FloatDistribution) and distribution.step is not None:
        n = int(round((distribution.high - distribution.low) / distribution.step)) + 1
        return [distribution.low + i * distribution.step for i in range(n)]
    raise SweepConfigError(
        f"the grid sampler needs discrete parameters, but '{name}' is {distribution}; "
        "use choice(...) or range(...) for it, or another sampler"
    )


DEFAULTS_ENTRY = "defaults"


def enqueued_params(entries: Sequence[Any], space: SearchSpace, config: DictConfig) -> list[dict[str, Any]]:
    """The parameters of ``hydra.sweeper.enqueue_trials``, checked against ``space``.

    An entry is a mapping ``{key: value}`` of searched keys (keys left out are sampled), or
    ``"defaults"``: the composed config's value of every searched key (a group's chosen option for
    a group key); a key whose value the distribution cannot take is left to the sampler.
    """
    queued = []
    for index, entry in enumerate(entries):
        where = f"hydra.sweeper.enqueue_trials[{index}]"
        if entry == DEFAULTS_ENTRY:
            queued.append(_config_values(space, config))
            continue
        if not isinstance(entry, Mapping) or not entry:
            raise SweepConfigError(
                f"{where}={entry!r}: use a mapping of searched keys to values, e.g. "
                "{model.d_model: 64}, or 'defaults' for the config's values"
            )
        params = {}
        for key, value in entry.items():
            if key not in space.distributions:
                searched = ", ".join(space.distributions) or "none"
                raise SweepConfigError(f"{where}: '{key}' is not a searched key (searched: {searched})")
            if not _takes(space.distributions[key], value):
                raise SweepConfigError(
                    f"{where}: {key}={value!r} is outside its search space "
                    f"{space.distributions[key]}: use a value it can sample"
                )
            params[str(key)] = _internal(space.distributions[key], value)
        queued.append(params)
    return queued


def _config_values(space: SearchSpace, config: DictConfig) -> dict[str, Any]:
    choices = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    missing = object()
    values = {}
    for key, distribution in space.distributions.items():
        plain = key.split("@", 1)[0]
        value = choices[plain] if plain in choices else OmegaConf.select(config, plain, default=missing)
        if value is not missing and _takes(distribution, value):
            values[key] = _internal(distribution, value)
    return values


def _takes(distribution: "BaseDistribution", value: Any) -> bool:
    """Whether ``value`` is one ``distribution`` can sample (bools are no numbers here)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return any(type(value) is type(choice) and value == choice for choice in distribution.choices)
    assert isinstance(distribution, (FloatDistribution, IntDistribution)), distribution
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(distribution, IntDistribution) and not float(value).is_integer():
        return False
    low, step = distribution.low, distribution.step
    if not low <= value <= distribution.high:
        return False
    return step is None or math.isclose((value - low) / step, round((value - low) / step), abs_tol=1e-9)


def _internal(distribution: "BaseDistribution", value: Any) -> Any:
    from optuna.distributions import FloatDistribution, IntDistribution

    if isinstance(distribution, FloatDistribution):
        return float(value)
    if isinstance(distribution, IntDistribution):
        return int(value)
    return value
