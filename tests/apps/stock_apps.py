"""Toy tasks in the shape of the stock Optuna sweeper's example apps, for real multiruns.

- ``sphere``: x^2 + y^2 (``error=true`` raises in every job, ``fail_trials`` in some, for the
  failure-rate rules);
- ``binh_korn``: the two-objective Binh and Korn problem, returned as a tuple, or as a dict
  keyed by ``objective`` names (``objective=[v0,v1]``); ``nan_trials`` returns NaN in the
  second objective;
- ``offset_sphere``: w^2 + x^2 + y^2 + z^2, whose z and w a custom search space suggests
  (:func:`suggest_z_near_x`).

Run one with ``python stock_apps.py -m --config-name=<sphere|binh_korn|custom_space|grid>``.
"""

import math

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


def sphere(cfg: DictConfig) -> float:
    if cfg.get("error", False) or HydraConfig.get().job.num in cfg.get("fail_trials", []):
        raise RuntimeError("cfg.error is True")
    return cfg.x**2 + cfg.y**2


def binh_korn(cfg: DictConfig):
    v0 = 4 * cfg.x**2 + 4 * cfg.y**2
    v1 = (cfg.x - 5) ** 2 + (cfg.y - 5) ** 2
    if HydraConfig.get().job.num in cfg.get("nan_trials", []):
        v1 = math.nan
    names = cfg.get("objective")
    if names is None:
        return v0, v1
    return {str(name): value for name, value in zip(names, (v0, v1, cfg.x + cfg.y))}


def offset_sphere(cfg: DictConfig) -> float:
    return cfg.w**2 + cfg.x**2 + cfg.y**2 + cfg.z**2


def suggest_z_near_x(cfg: DictConfig, trial) -> None:
    """custom_search_space: z within max_z_difference_from_x of x, and a new key w."""
    x = trial.params["x"]
    trial.suggest_float("z", x - cfg.max_z_difference_from_x, x + cfg.max_z_difference_from_x)
    trial.suggest_float("+w", 0.0, 1.0)  # '+w': w is not in the config


TASKS = {"sphere": sphere, "binh_korn": binh_korn, "offset_sphere": offset_sphere}


@hydra.main(version_base=None, config_path="conf/stock", config_name="sphere")
def main(cfg: DictConfig):
    return TASKS[cfg.task](cfg)


if __name__ == "__main__":
    main()
