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
from transformers import PreTrainedModel

from peft_pipelines.training.fitting import fit_model
from peft_pipelines.training.peft_wrapping import wrap_with_peft
from peft_pipelines.training.provenance import git_commit, package_versions


def base_model_manifest(
    base_model: dict[str, Any], architecture: str, *, random_weights: bool, random_note: str
) -> dict[str, Any]:
    """The manifest :class:`peft_pipelines.io.BaseModelDataset` saves and reloads as the prepared model.

    ``base_model`` holds ``name_or_path`` (a Hub id or a folder), ``revision``,
    ``quantization``, ``gradient_checkpointing``, ``config_overrides`` and
    ``note`` (what the base is, copied into every report; a random base gets
    ``random_note`` instead).
    """
    name_or_path = str(base_model["name_or_path"])
    if Path(name_or_path).is_dir():
        # An absolute folder, so the adapters saved with this manifest load from any working directory.
        name_or_path = str(Path(name_or_path).resolve())
    return {
        "name_or_path": name_or_path,
        "revision": base_model.get("revision"),
        "architecture": architecture,
        "quantization": base_model.get("quantization", "int8"),
        "gradient_checkpointing": bool(base_model.get("gradient_checkpointing", False)),
        "config_overrides": dict(base_model.get("config_overrides") or {}),
        "base_model_random": random_weights,
        "note": random_note if random_weights else base_model.get("note"),
    }


def add_peft_adapter(
    base_model: PreTrainedModel, peft: dict[str, Any]
) -> tuple[PeftModel, dict[str, Any]]:
    """Wrap the prepared base with the configured PEFT method; the summary goes to ``peft_summary.json``."""
    peft_model, summary = wrap_with_peft(base_model, peft)
    manifest = base_model.peft_pipelines_manifest
    peft_model.peft_pipelines_manifest = manifest
    summary["base_model"] = manifest["name_or_path"]
    summary["base_model_random"] = manifest["base_model_random"]
    summary["base_model_note"] = manifest.get("note")
    return peft_model, summary


def fit_adapter(
    peft_model: PeftModel,
    train_dataset: Dataset,
    eval_dataset: Dataset | None,
    data_collator: Callable,
    *,
    training: dict[str, Any],
    peft: dict[str, Any],
    seq2seq: bool = False,
) -> tuple[PeftModel, dict[str, Any]]:
    """Fit the adapter with the training core and carry the base's manifest onto the result.

    Checkpoints go to ``training["output_dir"]``; a rerun after an interruption
    resumes from the last one made with the same base, adapter settings, data
    and parameters. The log (Trainer log history) says whether the base had random weights.
    """
    manifest = peft_model.peft_pipelines_manifest
    trained, log = fit_model(
        peft_model,
        train_dataset,
        eval_dataset,
        data_collator,
        training=dict(training),
        fingerprint_parts={"base_model": manifest, "peft": dict(peft)},
        seq2seq=seq2seq,
    )
    trained.peft_pipelines_manifest = manifest
    log["base_model_random"] = manifest["base_model_random"]
    log["base_model_note"] = manifest.get("note")
    return trained, log


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
