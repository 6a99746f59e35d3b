"""Node functions of the training core that every fine-tuning pipeline uses as they are.

The pipelines differ in their data and evaluation; the base-model manifest,
the PEFT wrapping and the provenance of a report are the same for Whisper and
for causal LMs, so they are written once here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasets import Dataset
from peft import PeftModel

from peft_pipelines.errors import ConfigurationError
from peft_pipelines.io.model_folders import location_as_written
from peft_pipelines.io.model_loading import ARCHITECTURES, QUANTIZATIONS, load_base_model
from peft_pipelines.training.fitting import fit_model
from peft_pipelines.training.peft_wrapping import wrap_with_peft
from peft_pipelines.training.provenance import git_commit, package_versions


def describe_base_model(
    pretrained_model: dict[str, Any], base_model: dict[str, Any]
) -> dict[str, Any]:
    """The base-model manifest: which weights (the catalog's ``pretrained_model``) and how to load them.

    ``pretrained_model`` is a model reference (``name_or_path``, ``revision``,
    ``random_weights``, ``note``) from one of the pretrained-model datasets;
    ``base_model`` holds ``architecture`` (``whisper`` | ``causal_lm``),
    ``quantization``, ``gradient_checkpointing``, ``config_overrides`` and, for
    Whisper, ``window_seconds``. :func:`peft_pipelines.io.model_loading.load_base_model`
    turns the manifest back into the prepared model.
    """
    architecture = base_model["architecture"]
    if architecture not in ARCHITECTURES:
        raise ConfigurationError(
            f"base_model.architecture must be one of {sorted(ARCHITECTURES)}, not {architecture!r}"
        )
    quantization = base_model.get("quantization", "int8")
    if quantization not in QUANTIZATIONS:
        raise ConfigurationError(
            f"base_model.quantization must be one of {QUANTIZATIONS}, not {quantization!r}"
        )
    return {
        "name_or_path": pretrained_model["name_or_path"],
        "revision": pretrained_model.get("revision"),
        "architecture": architecture,
        "quantization": quantization,
        "gradient_checkpointing": bool(base_model.get("gradient_checkpointing", False)),
        "config_overrides": dict(base_model.get("config_overrides") or {}),
        "window_seconds": base_model.get("window_seconds"),
        "base_model_random": bool(pretrained_model.get("random_weights", False)),
        "note": pretrained_model.get("note"),
    }


def base_model_fields(manifest: dict[str, Any]) -> dict[str, Any]:
    """What every report says of its base: which model, whether its weights are random, the note."""
    return {
        "base_model": manifest["name_or_path"],
        "base_model_random": manifest["base_model_random"],
        "base_model_note": manifest.get("note"),
    }


def add_peft_adapter(
    base_model_manifest: dict[str, Any], peft: dict[str, Any]
) -> tuple[PeftModel, dict[str, Any]]:
    """Load the base the manifest describes and wrap it with the configured PEFT method.

    The summary (parameter counts, adapted and unmatched modules) goes to ``peft_summary.json``.
    """
    peft_model, summary = wrap_with_peft(load_base_model(base_model_manifest), peft)
    return peft_model, {**summary, **base_model_fields(base_model_manifest)}


def fit_adapter(
    peft_model: PeftModel,
    base_model_manifest: dict[str, Any],
    train_dataset: Dataset,
    eval_dataset: Dataset | None,
    data_collator: Callable,
    *,
    training: dict[str, Any],
    peft: dict[str, Any],
    seq2seq: bool = False,
) -> tuple[PeftModel, dict[str, Any]]:
    """Fit the adapter with the training core; the log says what the base was.

    Checkpoints go to ``training["output_dir"]``; a rerun after an interruption
    resumes from the newest whole one made with the same base, adapter
    settings, data and parameters, and a rerun of a finished training returns
    its adapter without a step (see :mod:`peft_pipelines.training.checkpoints`).
    """
    trained, log = fit_model(
        peft_model,
        train_dataset,
        eval_dataset,
        data_collator,
        training=dict(training),
        fingerprint_parts={"base_model": _portable(base_model_manifest), "peft": dict(peft)},
        seq2seq=seq2seq,
    )
    return trained, {**log, **base_model_fields(base_model_manifest)}


def _portable(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with its base folder named relative to the project, as a copy of the project names it.

    The checkpoints' fingerprint holds it: a copied or moved project then
    resumes its checkpoints instead of training again from step 0.
    """
    return {**manifest, "name_or_path": location_as_written(str(manifest["name_or_path"]), Path())}


def report_provenance(
    manifest: dict[str, Any], peft: dict[str, Any], split: str, seed: int | None
) -> dict[str, Any]:
    """The keys every metrics report carries, so a figure can be traced to its model, data and code."""
    provenance = {
        "split": split,
        "base_model": manifest["name_or_path"],
        "base_model_random": manifest["base_model_random"],
        "quantization": manifest["quantization"],
        "peft_config": dict(peft),
        "seed": seed,
        "git_commit": git_commit(),
        "package_versions": package_versions(),
    }
    if manifest.get("note"):
        provenance["note"] = manifest["note"]
    return provenance
