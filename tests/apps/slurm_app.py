"""A tiny Hydra app for launcher tests: each job records where and how it ran in job.json."""

import json
import os
import socket
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sweepkit.forecast import resolvers

resolvers.register()  # the project's conf/sweeper presets use them

SLURM_VARS = (
    "SLURM_JOB_ID",
    "SLURM_ARRAY_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_JOB_PARTITION",
    "SLURM_CPUS_PER_TASK",
    "SLURM_MEM_PER_NODE",
    "SUBMITIT_EXECUTOR",
)


@hydra.main(version_base=None, config_path="conf", config_name="slurm_app")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    record = {
        "x": cfg.x,
        "y": cfg.x * cfg.x,
        "hydra_job_num": hydra_cfg.job.num,
        "hydra_job_id": hydra_cfg.job.id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "launcher": hydra_cfg.runtime.choices["hydra/launcher"],
        "env": {name: os.environ.get(name) for name in SLURM_VARS + tuple(cfg.record_env)},
    }
    out = Path(hydra_cfg.runtime.output_dir) / "job.json"
    out.write_text(json.dumps(record, indent=1))
    return record["y"]


if __name__ == "__main__":
    main()
