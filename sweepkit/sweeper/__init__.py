"""The sweepkit Hydra sweeper: current Optuna with pruning, a persistent study and resume.

Select it with ``hydra/sweeper=sweepkit`` (or a ``conf/sweeper/*.yaml`` preset). Importing this
package is cheap; the sweep loop (and optuna) load when a sweep starts.
"""

from sweepkit.sweeper._objectives import BadReturn, Objective, named_objectives
from sweepkit.sweeper._search_space import SearchSpace, SweepConfigError, parse_search_space
from sweepkit.sweeper._storage import default_storage_url, open_storage
from sweepkit.sweeper._trial_attrs import set_trial_ranks, trial_ranks
from sweepkit.sweeper.config import SWEEPER_TARGET, SweepkitSweeperConf

__all__ = [
    "SWEEPER_TARGET",
    "BadReturn",
    "Objective",
    "SearchSpace",
    "SweepConfigError",
    "SweepkitSweeperConf",
    "default_storage_url",
    "named_objectives",
    "open_storage",
    "parse_search_space",
    "set_trial_ranks",
    "trial_ranks",
]
