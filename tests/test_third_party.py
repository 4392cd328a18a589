"""Each private API of another package that sweepkit uses (``sweepkit._third_party``) is still
there, with the parameters sweepkit passes; pyproject.toml pins those packages' upper bounds."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest
import tomllib

from sweepkit._third_party import PRIVATE_APIS, UPPER_BOUNDS

ROOT = Path(__file__).resolve().parent.parent


def _instance(cls: type) -> object:
    """A real instance of the classes whose instances' private attributes sweepkit reads."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if cls is optuna.study.Study:
        return optuna.create_study()
    if cls is optuna.trial.Trial:
        return optuna.create_study().ask()
    if cls is optuna.trial.FrozenTrial:
        study = optuna.create_study()
        study.tell(study.ask(), 1.0)
        return study.trials[0]
    return cls(**({"delay_s": 60} if cls.__name__ == "SlurmInfoWatcher" else {}))


def _resolve(target: str) -> object:
    module_name, _, path = target.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in path.split("."):
        if part.endswith("()"):
            obj = _instance(getattr(obj, part[:-2]))
        else:
            assert hasattr(obj, part), f"{target}: {obj!r} has no {part!r} any more"
            obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("api", PRIVATE_APIS, ids=[a.target for a in PRIVATE_APIS])
def test_each_private_api_is_still_there(api):
    pytest.importorskip(api.target.partition(":")[0].split(".")[0])
    found = _resolve(api.target)
    if api.params:
        assert list(inspect.signature(found).parameters)[: len(api.params)] == list(api.params), api


def test_every_package_with_a_private_api_in_use_is_pinned_below_its_next_line():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    assert {a.package for a in PRIVATE_APIS} == set(UPPER_BOUNDS)
    for package, bound in UPPER_BOUNDS.items():
        pinned = [r for r in requirements if re.match(rf"{re.escape(package)}(?![\w.-])", r)]
        assert pinned and all(bound in r for r in pinned), (package, bound, pinned)
