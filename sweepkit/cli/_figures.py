"""The report's plots: Optuna's own visualisations, drawn with plotly for the page and with
matplotlib for images.

Every sweep gets the same plots: an in-memory Optuna study is rebuilt from the sweep's run
records (:func:`study_of`), so a grid of Hydra's basic sweeper is drawn like an Optuna sweep, and
every trial carries the run's name, job number, rank and status (Optuna's hover text shows them).
plotly and matplotlib come with the ``report`` extra and are imported only here.
"""

from __future__ import annotations

import datetime
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweepkit.cli._stats import curve, finite
from sweepkit.cli._summary import varying_params
from sweepkit.cli._sweeps import Run, Sweep
from sweepkit.errors import CliError

REPORT_EXTRA = "sweepkit[report]"
MAX_PARALLEL_PARAMS = 8
PRUNED_COLOUR = "#ff7f0e"
OTHER_COLOUR = "#c8c8c8"
STATE_OF = {"complete": "COMPLETE", "pruned": "PRUNED", "running": "RUNNING"}


def require_plotting() -> None:
    """Fail with one line naming the extra when plotly or matplotlib is missing."""
    import importlib.util

    missing = [m for m in ("plotly", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        raise CliError(f"`sweepkit report` draws with {' and '.join(missing)}: pip install '{REPORT_EXTRA}'")


@dataclass
class Plot:
    """One plot of the report: ``name`` is its anchor and image file name."""

    name: str
    title: str
    figure: Any  # plotly.graph_objects.Figure
    params: list[str] | None = None  # the parameters it shows, where it chooses some


def _distribution(values: list[Any]) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) == len(values) and all(math.isfinite(v) for v in numbers):
        lo, hi = min(numbers), max(numbers)
        if all(isinstance(v, int) for v in numbers):
            return IntDistribution(int(lo), int(hi))
        return FloatDistribution(float(lo), float(hi), log=lo > 0 and hi / lo >= 100)
    return CategoricalDistribution(sorted({_choice(v) for v in values}, key=str))


def _choice(value: Any) -> Any:
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def _distributions(sweep: Sweep, runs: list[Run]) -> dict[str, Any]:
    """Each parameter's search distribution: the Optuna study's where it has one, else one that
    covers the values the runs took."""
    known: dict[str, Any] = {}
    for trial in sweep.study.get_trials(deepcopy=False) if sweep.study is not None else []:
        for key, dist in trial.distributions.items():
            known.setdefault(key, dist)
    seen: dict[str, list[Any]] = {}
    for run in runs:
        for key, value in (run.get("params") or {}).items():
            seen.setdefault(key, []).append(_choice(value))
    return {
        key: known[key] if key in known and _covers(known[key], values) else _distribution(values)
        for key, values in seen.items()
    }


def _covers(dist: Any, values: list[Any]) -> bool:
    """Whether every value lies in ``dist`` (a run may have overridden what the study suggested)."""
    if hasattr(dist, "choices"):
        return all(v in dist.choices for v in values)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return False
    step = getattr(dist, "step", None)
    for v in values:
        steps = (v - dist.low) / step if step else 0.0
        if not (dist.low <= v <= dist.high and math.isclose(steps, round(steps))):
            return False
    return True


def _when(ts: Any, default: datetime.datetime) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ts) if finite(ts) else default


def study_of(sweep: Sweep) -> Any:
    """An in-memory Optuna study with one trial per run, in job order.

    A trial is COMPLETE with the run's metric value(s), PRUNED or RUNNING as the run is, else
    FAIL; its parameters are those that vary between runs; its intermediate values are the run's
    learning curve, its start and end the run's; its user attributes say ``run_name``, ``job``,
    ``status`` and ``rank`` (when its checkpoint is kept), so each point's hover names the run.
    """
    import optuna
    from optuna.exceptions import ExperimentalWarning
    from optuna.trial import FrozenTrial, TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objectives = sweep.objectives or [{"name": sweep.metric_name, "mode": sweep.mode}]
    study = optuna.create_study(directions=["maximize" if o["mode"] == "max" else "minimize" for o in objectives])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        study.set_metric_names([str(o["name"]) for o in objectives])
    runs = sorted(sweep.runs, key=lambda r: r["job_num"] if isinstance(r.get("job_num"), int) else 1 << 30)
    distributions = _distributions(sweep, runs)
    varying = set(varying_params(runs))  # a value every run shares says nothing
    metric, now = sweep.metric_name, datetime.datetime.now()
    for number, run in enumerate(runs):
        values = run.get("metric_values") if sweep.objectives else [run.get("metric_value")]
        scored = isinstance(values, list) and len(values) == len(objectives) and all(map(finite, values))
        state = TrialState[STATE_OF.get(str(run.get("status")), "FAIL")]
        if state == TrialState.COMPLETE and not scored:
            state = TrialState.FAIL
        params = {k: _choice(v) for k, v in (run.get("params") or {}).items() if k in varying}
        history = curve(sweep, run)
        steps = {int(h["epoch"]): float(h[metric]) for h in history if finite(h.get("epoch")) and finite(h.get(metric))}
        attrs = {"run_name": run.get("run_name"), "job": run.get("job_num"), "status": run.get("status")}
        if run.get("rank") is not None:
            attrs["rank"] = run["rank"]
        start = _when(run.get("started_at"), now)
        study.add_trial(
            FrozenTrial(
                number=number,
                state=state,
                value=None,
                values=[float(v) for v in values or [] if finite(v)] if state == TrialState.COMPLETE else None,
                datetime_start=start,
                datetime_complete=_when(run.get("ended_at"), start) if state.is_finished() else None,
                params=params,
                distributions={k: distributions[k] for k in params},
                user_attrs=attrs,
                system_attrs={},
                intermediate_values=steps,
                trial_id=number,
            )
        )
    return study


def _evaluator() -> tuple[Any, str]:
    """Optuna's default importance evaluator (fANOVA) when scikit-learn is installed, else
    PED-ANOVA, which needs nothing more; with the name the plot shows."""
    import importlib.util

    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    if importlib.util.find_spec("sklearn") is not None:
        return FanovaImportanceEvaluator(seed=0), "fANOVA"
    return PedAnovaImportanceEvaluator(), "PED-ANOVA"


def _hover(trial: Any) -> str:
    """A trial as its hover label: number, values, parameters and user attributes, the layout of
    Optuna's own plots (whose helper for it is private)."""
    import json

    doc = {"number": trial.number, "values": trial.values, "params": trial.params, "user_attrs": trial.user_attrs}
    return json.dumps(doc, indent=2, default=str).replace("\n", "<br>")


def plots(study: Any, top_k: int) -> list[Plot]:
    """The report's interactive figures: the Pareto front (several metrics), optimization history
    (pruned runs at their best value, in orange), parallel coordinates of the most important
    parameters, importances, learning curves (the top k in colour, pruned runs in orange, the rest
    grey) and the timeline of trials. A plot Optuna cannot draw for this study is left out."""
    import optuna.visualization as vis
    from optuna.trial import TrialState

    names = study.metric_names
    first = (lambda t: t.values[0]) if len(names) > 1 else None
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    pruned = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
    out: list[Plot | None] = [
        _pareto_front(study, complete) if len(names) > 1 and complete else None,
        _history(study, first, pruned) if complete or pruned else None,
        *_parameters(study, first, complete),
        _learning_curves(study, top_k),
        Plot("timeline", "Timeline of trials", vis.plot_timeline(study)) if study.trials else None,
    ]
    drawn = [plot for plot in out if plot is not None]
    for plot in drawn:
        plot.figure.update_layout(title=plot.title, template="plotly_white")
    return drawn


def _pareto_front(study: Any, complete: list[Any]) -> Plot:
    """Optuna's Pareto front; with two metrics the runs whose checkpoints are kept are ringed."""
    import optuna.visualization as vis
    import plotly.graph_objects as go

    fig = vis.plot_pareto_front(study, target_names=study.metric_names)
    kept = sorted((t for t in complete if t.user_attrs.get("rank")), key=lambda t: t.user_attrs["rank"])
    if kept and len(study.metric_names) == 2:
        fig.add_trace(
            go.Scatter(
                x=[t.values[0] for t in kept],
                y=[t.values[1] for t in kept],
                mode="markers",
                name="kept checkpoint",
                marker={"symbol": "circle-open", "size": 16, "color": "black", "line": {"width": 2}},
                text=[_hover(t) for t in kept],
                hovertemplate="%{text}<extra>kept</extra>",
            )
        )
    return Plot("pareto_front", "Pareto front (kept checkpoints ringed)", fig)


def _history(study: Any, first: Any, pruned: list[Any]) -> Plot:
    """Optuna's optimization history, each run's point hovering with the run, and the pruned
    runs at their best value (orange crosses)."""
    import optuna.visualization as vis
    import plotly.graph_objects as go

    name = study.metric_names[0]
    fig = vis.plot_optimization_history(study, target=first, target_name=name)
    fig.update_traces(hoverinfo="skip", selector={"name": "Best Value"})  # the runs' points hover
    by_number = {t.number: t for t in study.trials}
    for trace in fig.data:
        if trace.name != "Best Value" and trace.x is not None:
            trace.update(text=[_hover(by_number[int(x)]) for x in trace.x], hovertemplate="%{text}<extra></extra>")
    pruned = [t for t in pruned if t.intermediate_values]
    if pruned:
        best = min if study.directions[0].name == "MINIMIZE" else max
        fig.add_trace(
            go.Scatter(
                x=[t.number for t in pruned],
                y=[best(t.intermediate_values.values()) for t in pruned],
                mode="markers",
                name="Pruned (best value)",
                marker={"color": PRUNED_COLOUR, "symbol": "x"},
                text=[_hover(t) for t in pruned],
                hovertemplate="%{text}<extra>pruned</extra>",
            )
        )
    return Plot("optimization_history", f"Optimization history of {name}", fig)


def _parameters(study: Any, first: Any, complete: list[Any]) -> list[Plot | None]:
    """Parallel coordinates of the most important parameters (at most eight) and the importances,
    with the evaluator named; none without complete runs that differ in a parameter."""
    import optuna
    import optuna.visualization as vis

    params = sorted({k for t in complete for k in t.params})
    if not complete or not params:
        return []
    name = study.metric_names[0]
    evaluator, evaluator_name = _evaluator()
    try:
        importances = optuna.importance.get_param_importances(study, evaluator=evaluator, target=first)
    except (ValueError, RuntimeError):  # a single run, or every value equal
        importances = {}
    chosen = sorted(params, key=lambda k: -importances.get(k, 0.0))[:MAX_PARALLEL_PARAMS]
    parallel = vis.plot_parallel_coordinate(study, params=chosen, target=first, target_name=name)
    out: list[Plot | None] = [Plot("parallel_coordinates", "Parallel coordinates", parallel, chosen)]
    if importances:
        title = f"Hyperparameter importances for {name} ({evaluator_name})"
        fig = vis.plot_param_importances(study, evaluator=evaluator, target=first, target_name=name)
        out.append(Plot("param_importances", title, fig))
    return out


def _learning_curves(study: Any, top_k: int) -> Plot | None:
    """Optuna's intermediate-values plot, each line named and hovering with its run."""
    import optuna.visualization as vis

    fig = vis.plot_intermediate_values(study)
    if not fig.data:
        return None
    by_name = {f"Trial{t.number}": t for t in study.trials}
    metric = study.metric_names[0]
    shown_pruned = False
    for trace in fig.data:
        trial = by_name[trace.name]
        rank, label = trial.user_attrs.get("rank"), _line_label(trial)
        trace.hovertemplate = f"{_hover(trial)}<br>epoch %{{x}}, {metric} %{{y}}<extra>{label}</extra>"
        trace.name = label
        if rank and rank <= top_k:
            trace.update(showlegend=True, legendrank=rank, line={"width": 3})
        elif trial.state.name == "PRUNED":
            trace.update(
                showlegend=not shown_pruned,
                name="pruned",
                legendgroup="pruned",
                line={"color": PRUNED_COLOUR, "width": 1},
                marker={"color": PRUNED_COLOUR},
                opacity=0.6,
            )
            shown_pruned = True
        else:
            trace.update(line={"color": OTHER_COLOUR, "width": 1}, marker={"color": OTHER_COLOUR}, opacity=0.6)
    last = max((max(t.intermediate_values) for t in study.trials if t.intermediate_values), default=1)
    fig.update_layout(showlegend=True, xaxis={"title": "epoch", "dtick": max(1, math.ceil(last / 10))})
    fig.update_layout(yaxis={"title": metric})
    title = f"Learning curves: the top {top_k} in colour, pruned runs in orange, the rest grey"
    return Plot("learning_curves", title, fig)


def write_images(study: Any, plots: list[Plot], folder: Path, fmt: str) -> list[Path]:
    """Each plot as a titled, labelled image (``fmt`` png or svg) drawn by
    ``optuna.visualization.matplotlib``; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as mvis
    from matplotlib.ticker import MaxNLocator
    from optuna.exceptions import ExperimentalWarning

    names = study.metric_names
    first = (lambda t: t.values[0]) if len(names) > 1 else None
    chosen = next((p.params for p in plots if p.params), None)
    draw = {
        "pareto_front": lambda: mvis.plot_pareto_front(study, target_names=names),
        "optimization_history": lambda: mvis.plot_optimization_history(study, target=first, target_name=names[0]),
        "parallel_coordinates": lambda: mvis.plot_parallel_coordinate(
            study, params=chosen, target=first, target_name=names[0]
        ),
        "param_importances": lambda: mvis.plot_param_importances(
            study, evaluator=_evaluator()[0], target=first, target_name=names[0]
        ),
        "learning_curves": lambda: mvis.plot_intermediate_values(study),
        "timeline": lambda: mvis.plot_timeline(study),
    }
    folder.mkdir(parents=True, exist_ok=True)
    run_names = {f"Trial{t.number}": _line_label(t) for t in study.trials}
    written = []
    for plot in plots:
        with warnings.catch_warnings(), matplotlib.rc_context({"svg.fonttype": "none"}):
            warnings.simplefilter("ignore", ExperimentalWarning)
            warnings.simplefilter("ignore", UserWarning)  # matplotlib on a constant axis
            axes = draw[plot.name]()
            ax = axes.flat[0] if hasattr(axes, "flat") else axes
            figure: Any = ax.figure
            figure.set_size_inches(10, 5.5)
            ax.set_title(plot.title)
            if plot.name == "learning_curves":
                ax.set_xlabel("epoch")
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                ax.set_ylabel(names[0])
                for line in ax.get_lines():
                    line.set_label(run_names.get(str(line.get_label()), line.get_label()))
                ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")
            path = folder / f"{plot.name}.{fmt}"
            figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written


def _line_label(trial: Any) -> str:
    """A run's name in a legend: ``#1 dmixer_Wind_005`` when its checkpoint is kept."""
    rank = trial.user_attrs.get("rank")
    name = str(trial.user_attrs.get("run_name"))
    return f"#{rank} {name}" if rank else name
