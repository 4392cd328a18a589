"""A tiny Hydra app for GPU-slot tests: each job records the GPU it was given in gpu.json."""

import json
import os
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sweepkit.forecast import resolvers

resolvers.register()  # the project's conf/sweeper presets use them


@hydra.main(version_base=None, config_path="conf", config_name="toy")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    started = time.time()
    time.sleep(cfg.epoch_seconds)
    record = {
        "job_num": hydra_cfg.job.num,
        "pid": os.getpid(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "device": cfg.get("device"),
        "started": started,
        "ended": time.time(),
    }
    (Path(hydra_cfg.runtime.output_dir) / "gpu.json").write_text(json.dumps(record))
    return (cfg.model.x - 0.3) ** 2


if __name__ == "__main__":
    main()
