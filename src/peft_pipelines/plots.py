"""Report figures (loss curves, base vs fine-tuned figures) written by the catalog as PNG.

Figures are built with ``matplotlib.figure.Figure`` rather than ``pyplot`` so
that a node holds no global plotting state and chooses no backend (which would
override a notebook's); ``Figure.savefig`` needs none. kedro-datasets'
``matplotlib.MatplotlibDataset`` saves them.
"""

from __future__ import annotations

from functools import partial, update_wrapper
from typing import Any

from matplotlib.figure import Figure

RANDOM_BASE_TITLE = "random-weight base: shows the mechanics, not accuracy"
BASE_COLOUR, TUNED_COLOUR = "#9e9e9e", "#1f77b4"


def _title(headline: str, base_model_random: bool) -> str:
    return f"{headline}\n({RANDOM_BASE_TITLE})" if base_model_random else headline


def loss_curve_figure(training_log: dict[str, Any], pipeline: str) -> Figure:
    """Training and evaluation loss against optimizer step, from the Trainer's log history.

    The losses are the models' own: mean cross-entropy per predicted token, in nats.
    """
    history = training_log.get("log_history", [])
    train = [(entry["step"], entry["loss"]) for entry in history if "loss" in entry]
    evaluation = [(entry["step"], entry["eval_loss"]) for entry in history if "eval_loss" in entry]
    figure = Figure(figsize=(7, 4.2), layout="constrained")
    axes = figure.add_subplot()
    if train:
        axes.plot(
            *zip(*train, strict=True), label="training loss (logged batches)", color=BASE_COLOUR
        )
    if evaluation:
        axes.plot(
            *zip(*evaluation, strict=True),
            label="evaluation loss (held-out)",
            color=TUNED_COLOUR,
            marker="o",
        )
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("cross-entropy loss (nats per token)")
    axes.grid(alpha=0.3)
    axes.legend()
    resumed = training_log.get("resumed_from")
    headline = f"{pipeline}: LoRA fine-tuning loss"
    if resumed:
        headline += f" (resumed from {resumed})"
    axes.set_title(_title(headline, bool(training_log.get("base_model_random"))))
    return figure


def _bars(axes: Any, labels: list[str], base: list[float], tuned: list[float], fmt: str) -> None:
    width = 0.38
    positions = range(len(labels))
    for offset, values, name, colour in (
        (-width / 2, base, "base", BASE_COLOUR),
        (width / 2, tuned, "fine-tuned", TUNED_COLOUR),
    ):
        bars = axes.bar([p + offset for p in positions], values, width, label=name, color=colour)
        axes.bar_label(bars, labels=[fmt.format(v) for v in values], padding=2)
    axes.set_xticks(list(positions), labels)
    axes.legend()
    axes.margins(y=0.15)


def error_rate_figure(metrics: dict[str, Any], pipeline: str) -> Figure:
    """Base vs fine-tuned character and word error rates, in per cent, on the evaluated split.

    With a long-utterance score in the metrics, its CER is a third pair of
    bars; with a guard's (``metrics["guard"]``, when a guard was set), a fourth.
    """
    figure = Figure(figsize=(6, 4.2), layout="constrained")
    axes = figure.add_subplot()
    base, tuned = metrics["base"], metrics["finetuned"]
    labels = ["CER", "WER"]
    base_values, tuned_values = [base["cer"], base["wer"]], [tuned["cer"], tuned["wer"]]
    long = metrics.get("long_utterances")
    if long:
        labels.append(f"CER, long\n({long['base']['n']} recordings)")
        base_values.append(long["base"]["cer"])
        tuned_values.append(long["finetuned"]["cer"])
    guard = metrics.get("guard", {})
    if "cer" in guard.get("base", {}):
        labels.append(f"CER, guard\n({guard['base']['n']} recordings)")
        base_values.append(guard["base"]["cer"])
        tuned_values.append(guard["finetuned"]["cer"])
    _bars(
        axes,
        labels,
        [100 * v for v in base_values],
        [100 * v for v in tuned_values],
        "{:.1f} %",
    )
    axes.set_ylabel("error rate (%)")
    headline = (
        f"{pipeline}: error rates on the {metrics.get('split', '?')} split ({base['n']} clips)"
    )
    axes.set_title(_title(headline, bool(metrics.get("base_model_random"))))
    return figure


def perplexity_figure(metrics: dict[str, Any], pipeline: str) -> Figure:
    """Base vs fine-tuned held-out perplexity (lower is better)."""
    figure = Figure(figsize=(5.5, 4.4), layout="constrained")
    axes = figure.add_subplot()
    base, tuned = metrics["base"], metrics["finetuned"]
    bars = axes.bar(
        ["base", "fine-tuned"],
        [base["perplexity"], tuned["perplexity"]],
        color=[BASE_COLOUR, TUNED_COLOUR],
        width=0.5,
    )
    axes.bar_label(bars, labels=[f"{b.get_height():.2f}" for b in bars], padding=2)
    axes.margins(y=0.15)
    axes.set_ylabel("perplexity (exp of mean NLL per token)")
    headline = (
        f"{pipeline}: held-out perplexity, lower is better\n"
        f"({base['n']} quotes, {base.get('tokens', '?')} tokens)"
    )
    axes.set_title(_title(headline, bool(metrics.get("base_model_random"))))
    return figure


def pareto_front(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """The points no other point beats on both cost and figure (both lower is better), by rising cost."""
    front: list[tuple[float, float, str]] = []
    for cost, figure, name in sorted(points, key=lambda p: (p[0], p[1])):
        if not front or figure < front[-1][1]:
            front.append((cost, figure, name))
    return front


def lab_front_figure(comparison: dict[str, Any], figures: list[str]) -> Figure:
    """Each figure of ``figures`` (test CER, perplexity...) against trainable parameters, one point per variant.

    The cost-quality front (the variants no other one beats with fewer
    parameters) is drawn as a line; the base (adapter off) as a dashed level.
    A figure no variant has (the guard set when none was given) gets no panel.
    """
    rows = comparison["variants"]
    shown = [f for f in figures if any(r["metrics"].get(f) is not None for r in rows)]
    figure = Figure(figsize=(6.5, 4.4 * max(len(shown), 1)), layout="constrained")
    for index, name in enumerate(shown):
        axes = figure.add_subplot(len(shown), 1, index + 1)
        points = [
            (float(r["trainable_parameters"]), float(r["metrics"][name]), r["variant"])
            for r in rows
            if r["metrics"].get(name) is not None and r.get("trainable_parameters")
        ]
        for cost, value, label in points:
            axes.scatter(cost, value, color=TUNED_COLOUR)
            axes.annotate(label, (cost, value), textcoords="offset points", xytext=(4, 4))
        front = pareto_front(points)
        axes.plot([p[0] for p in front], [p[1] for p in front], color=TUNED_COLOUR, alpha=0.5)
        if comparison.get("base", {}).get(name) is not None:
            axes.axhline(comparison["base"][name], color=BASE_COLOUR, linestyle="--", label="base")
            axes.legend()
        axes.set_xscale("log")
        axes.set_xlabel("trainable parameters (log scale)")
        axes.set_ylabel(f"{name} (lower is better)")
        axes.grid(alpha=0.3)
        headline = f"{comparison['pipeline']} lab: {name} against trainable parameters"
        axes.set_title(_title(headline, bool(comparison.get("base_model_random"))))
    return figure


def titled(figure_function: Any, pipeline: str) -> Any:
    """``figure_function`` with the pipeline's name bound, as a Kedro node function.

    Kedro and kedro-viz show a node's function by its name and docstring,
    which a bare ``functools.partial`` lacks.
    """
    return update_wrapper(partial(figure_function, pipeline=pipeline), figure_function)
