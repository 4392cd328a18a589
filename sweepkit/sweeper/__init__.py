"""The sweepkit Hydra sweeper: current Optuna with pruning, a persistent study and resume.

Select it with ``hydra/sweeper=sweepkit`` (or a ``conf/sweeper/*.yaml`` preset). Importing this
package is cheap; the sweep loop (and optuna) load when a sweep starts.
"""

from sweepkit.errors import BadReturn, SweepConfigError
from sweepkit.sweeper._algorithms import build_pruner, build_sampler
from sweepkit.sweeper._journal import damaged_journal_lines, mend_journal
from sweepkit.sweeper._objectives import Objective, named_objectives
from sweepkit.sweeper._presets import OPTUNA_PRESETS, STOCK_TARGET, use_chosen_preset
from sweepkit.sweeper._report import PRUNED_ATTR
from sweepkit.sweeper._search_space import SearchSpace, parse_search_space
from sweepkit.sweeper._storage import default_storage_url, open_storage
from sweepkit.sweeper._trial_attrs import set_trial_ranks, trial_ranks
from sweepkit.sweeper.config import SWEEPER_TARGET, SWEEPER_TOPK, SweepkitSweeperConf

__all__ = [
    "OPTUNA_PRESETS",
    "STOCK_TARGET",
    "SWEEPER_TOPK",
    "PRUNED_ATTR",
    "SWEEPER_TARGET",
    "BadReturn",
    "Objective",
    "SearchSpace",
    "SweepConfigError",
    "SweepkitSweeperConf",
    "build_pruner",
    "build_sampler",
    "damaged_journal_lines",
    "mend_journal",
    "default_storage_url",
    "named_objectives",
    "open_storage",
    "parse_search_space",
    "set_trial_ranks",
    "trial_ranks",
    "use_chosen_preset",
]
