"""The PEFT lab: variants of a pipeline's PEFT and training settings, and their side-by-side comparison.

A variant is a name and the settings it changes from the pipeline's own
(``peft_lab.<pipeline>.variants.<name>: {peft: {...}, training: {...}}`` in
conf/base/parameters_peft_lab.yml); :func:`variant_settings` turns it into the
``peft`` and ``training`` mappings its copy of the model stages trains with.
:func:`comparison` gathers every variant's reports into one table
(``comparison.json``) and :func:`comparison_markdown` writes it for a person.
The wiring (one namespaced copy of the model stages per variant) is
:func:`peft_pipelines.training.pipeline.assemble_lab_pipeline`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from peft_pipelines.errors import ConfigurationError
from peft_pipelines.training.peft_wrapping import is_prompt_learning

VARIANT_KEYS = ("peft", "training")
# What a lab's comparison reads of each variant, in this order.
REPORT_KINDS = ("peft", "training", "peft_summary", "training_log", "metrics")
# A variant's name is a part of dataset and node names (whisper_zh_lab.<name>.adapter).
VARIANT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Steps-like settings cut to the lab's max_steps, so a quick look still logs, evaluates and saves.
STEP_SETTINGS = ("eval_steps", "save_steps", "logging_steps", "warmup_steps")
# The columns of every row, besides the pipeline's own figures; all are better lower.
COST_COLUMNS = (
    "trainable_parameters",
    "adapter_bytes",
    "seconds_per_step",
    "peak_memory_bytes",
    "train_seconds",
)


def check_variant_name(pipeline: str, name: str) -> None:
    """Raise unless ``name`` can be part of a dataset name (letters, digits, underscores)."""
    if not VARIANT_NAME.fullmatch(str(name)):
        raise ConfigurationError(
            f"peft_lab.{pipeline}.variants.{name}: a variant's name must be letters, digits and "
            "underscores, starting with a letter (it names its datasets and nodes)"
        )


def _changed(own: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``own`` with ``changes`` applied; a null change removes the setting (peft's or the Trainer's default)."""
    merged = dict(own)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _variant_changes(pipeline: str, name: str, variant: Any) -> tuple[dict, dict]:
    prefix = f"peft_lab.{pipeline}.variants.{name}"
    if variant is None:
        return {}, {}
    if not isinstance(variant, dict):
        raise ConfigurationError(f"{prefix}: must be a mapping of peft and training changes")
    unknown = sorted(set(variant) - set(VARIANT_KEYS))
    if unknown:
        raise ConfigurationError(f"{prefix}.{unknown[0]}: unknown key (known keys: peft, training)")
    changes = [dict(variant.get(key) or {}) for key in VARIANT_KEYS]
    return changes[0], changes[1]


def variant_peft(
    peft: dict[str, Any], changes: dict[str, Any], *, pipeline: str, name: str, architecture: str
) -> dict[str, Any]:
    """The variant's PEFT settings: the pipeline's own with its changes, or, for another method, its own alone.

    A variant of another ``peft_type`` keeps only the pipeline's ``task_type``
    (another method's fields mean nothing to it). Prompt learning is refused
    for Whisper: peft feeds virtual tokens as ``input_ids``, which Whisper's
    encoder does not take (it takes ``input_features``).
    """
    method = changes.get("peft_type", peft.get("peft_type"))
    if method != peft.get("peft_type"):
        peft = {"peft_type": method, "task_type": peft.get("task_type")}
    if architecture == "whisper" and is_prompt_learning(str(method)):
        raise ConfigurationError(
            f"peft_lab.{pipeline}.variants.{name}.peft.peft_type: {method} is prompt learning, "
            "which peft feeds to the model as input_ids; Whisper's encoder takes input_features, "
            f"so no prompt-learning method is offered for {pipeline}"
        )
    return _changed(peft, changes)


def variant_training(
    training: dict[str, Any], changes: dict[str, Any], max_steps: int | None, checkpoints: str
) -> dict[str, Any]:
    """The variant's training settings: the pipeline's own with its changes, in its own checkpoint folder.

    ``max_steps`` (the lab's, when set) overrides every variant's steps; the
    evaluation, save, logging and warm-up intervals are cut to it.
    """
    resolved = _changed(training, changes)
    resolved["output_dir"] = changes.get("output_dir") or checkpoints
    if max_steps:
        resolved["max_steps"] = int(max_steps)
        for key in STEP_SETTINGS:
            if isinstance(resolved.get(key), int | float) and resolved[key] > max_steps:
                resolved[key] = int(max_steps)
    return resolved


def variant_settings(  # noqa: PLR0917 (the lab's node inputs, by position)
    peft: dict[str, Any],
    training: dict[str, Any],
    base_model: dict[str, Any],
    variant: Any,
    max_steps: int | None,
    checkpoints: str,
    *,
    pipeline: str,
    name: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A variant's ``peft`` and ``training`` settings from the pipeline's own and the variant's changes.

    ``checkpoints`` is the lab's checkpoint folder; the variant's checkpoints
    go to ``<checkpoints>/<pipeline>/<name>/checkpoints``. AdaLoRA's ``total_step`` (its
    rank schedule's length) is the training's ``max_steps`` unless set.
    """
    check_variant_name(pipeline, name)
    peft_changes, training_changes = _variant_changes(pipeline, name, variant)
    resolved_training = variant_training(
        training, training_changes, max_steps, f"{checkpoints}/{pipeline}/{name}/checkpoints"
    )
    resolved_peft = variant_peft(
        peft,
        peft_changes,
        pipeline=pipeline,
        name=name,
        architecture=str(base_model.get("architecture")),
    )
    if resolved_peft.get("peft_type") == "ADALORA" and not resolved_peft.get("total_step"):
        if not resolved_training.get("max_steps"):
            raise ConfigurationError(
                f"peft_lab.{pipeline}.variants.{name}.peft.total_step: AdaLoRA needs its number of "
                "training steps: set it, or training.max_steps"
            )
        resolved_peft["total_step"] = int(resolved_training["max_steps"])
    return resolved_peft, resolved_training


def method_label(peft: dict[str, Any]) -> str:
    """The method as a person names it: ``LORA``, ``LORA+DoRA``, ``ADALORA``..."""
    label = str(peft.get("peft_type"))
    return f"{label}+DoRA" if peft.get("use_dora") else label


def comparison_row(
    name: str, reports: dict[str, Any], figures: dict[str, float | None]
) -> dict[str, Any]:
    """One variant's row: its method and settings, its costs (from its PEFT summary and training log), its figures."""
    peft, log, summary = reports["peft"], reports["training_log"], reports["peft_summary"]
    counts = summary.get("parameters", {})
    return {
        "variant": name,
        "method": method_label(peft),
        "settings": {k: v for k, v in peft.items() if k not in {"peft_type", "task_type"}},
        "max_steps": reports["training"].get("max_steps"),
        "learning_rate": reports["training"].get("learning_rate"),
        "trainable_parameters": counts.get("trainable"),
        "total_parameters": counts.get("total"),
        "adapter_bytes": log.get("adapter_bytes"),
        "steps": log.get("global_step"),
        "seconds_per_step": log.get("seconds_per_step"),
        "peak_memory_bytes": log.get("peak_memory_bytes"),
        "peak_memory_kind": log.get("peak_memory_kind"),
        "train_seconds": log.get("train_seconds"),
        "metrics": figures,
    }


def comparison(
    pipeline: str,
    variants: list[str],
    reports: list[Any],
    figures: Callable[[dict[str, Any], str], dict[str, float | None]],
) -> dict[str, Any]:
    """Every variant's row, the base's figures (adapter off) and which variant is best in each column.

    ``reports`` holds, per variant in order, its ``peft``, ``training``,
    ``peft_summary``, ``training_log`` and ``metrics``; ``figures(metrics,
    side)`` reads the pipeline's figures of one side (``base`` or
    ``finetuned``). Every column is better lower.
    """
    kinds = REPORT_KINDS
    per_variant = [
        dict(zip(kinds, reports[i : i + len(kinds)], strict=True))
        for i in range(0, len(reports), len(kinds))
    ]
    rows = [
        comparison_row(name, report, figures(report["metrics"], "finetuned"))
        for name, report in zip(variants, per_variant, strict=True)
    ]
    first = per_variant[0]["metrics"]
    return {
        "pipeline": pipeline,
        "variants": rows,
        "base": figures(first, "base"),
        "best": best_per_column(rows),
        "base_model": first.get("base_model"),
        "base_model_random": first.get("base_model_random"),
        "note": "lower is better in every column",
    }


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[float | None]]:
    figures = list(dict.fromkeys(key for row in rows for key in row["metrics"]))
    columns = {key: [row.get(key) for row in rows] for key in COST_COLUMNS}
    columns.update({key: [row["metrics"].get(key) for row in rows] for key in figures})
    return columns


def best_per_column(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per column, the variants with its lowest value (ties: all of them); a column of no values has none."""
    best = {}
    for column, values in _columns(rows).items():
        known = [v for v in values if isinstance(v, int | float)]
        if known:
            low = min(known)
            best[column] = [row["variant"] for row, v in zip(rows, values, strict=True) if v == low]
    return best


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and value >= 10_000:
        return f"{value:,}"
    return str(value)


def comparison_markdown(table: dict[str, Any]) -> str:
    """The comparison as a Markdown table: one row per variant and one for the base, the best per column in bold."""
    rows = table["variants"]
    columns = list(_columns(rows))
    head = ["variant", "method", *columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["variant"], row["method"]]
        for column in columns:
            value = row["metrics"].get(column) if column in row["metrics"] else row.get(column)
            text = _cell(value)
            cells.append(f"**{text}**" if row["variant"] in table["best"].get(column, []) else text)
        lines.append("| " + " | ".join(cells) + " |")
    base = [
        _cell(table["base"].get(column)) if column in table["base"] else "" for column in columns
    ]
    lines.append("| base (adapter off) | - | " + " | ".join(base) + " |")
    random = (
        "\n\nThe base model's weights are random: these figures test the lab, not the methods."
        if table.get("base_model_random")
        else ""
    )
    settings = "\n".join(
        f"- {row['variant']}: {row['method']} {json.dumps(row['settings'], ensure_ascii=False)}"
        for row in rows
    )
    return (
        f"# PEFT lab: {table['pipeline']}\n\nLower is better in every column; the best is in bold. "
        f"Base model: {table.get('base_model')}.{random}\n\n"
        + "\n".join(lines)
        + f"\n\nSettings of each variant:\n\n{settings}\n"
    )
