"""Train a forecaster: `python train.py [overrides]`, or sweep: `python train.py -m [overrides]`."""

import hydra
from omegaconf import DictConfig

from sweepkit.forecast import resolvers

resolvers.register()  # the sweep follows `objective` (one, or a list: a Pareto front)


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    from sweepkit.forecast.job import run_job  # torch loads here, not at --help

    return run_job(cfg)


if __name__ == "__main__":
    main()
