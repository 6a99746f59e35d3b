"""Node functions of the training core that every fine-tuning pipeline uses as they are.

The pipelines differ in their data and evaluation; the base-model manifest,
the PEFT wrapping and the provenance of a report are the same for Whisper and
for causal LMs, so they are written once here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from datasets import Dataset
from peft import PeftModel

from peft_pipelines.errors import ConfigurationError
from peft_pipelines.io.base_model_manifest import LOAD_SETTINGS, BaseModelManifest, field_problem
from peft_pipelines.io.model_loading import load_base_model
from peft_pipelines.training.fitting import fit_model
from peft_pipelines.training.peft_wrapping import adapter_state_bytes, wrap_with_peft
from peft_pipelines.training.provenance import git_commit, package_versions


def describe_base_model(
    pretrained_model: dict[str, Any], base_model: dict[str, Any]
) -> BaseModelManifest:
    """The base-model manifest: which weights (the catalog's ``pretrained_model``) and how to load them.

    ``pretrained_model`` is a model reference (``name_or_path``, ``revision``,
    ``random_weights``, ``note``) from one of the pretrained-model datasets;
    ``base_model`` holds ``architecture`` (``whisper`` | ``causal_lm``),
    ``quantization``, ``gradient_checkpointing``, ``config_overrides`` and, for
    Whisper, ``window_seconds``; a setting it leaves out (or a null
    ``config_overrides``) takes the manifest's default, so the manifest always
    carries every field. :func:`peft_pipelines.io.model_loading.load_base_model`
    turns the manifest back into the prepared model.
    """
    settings = {key: base_model[key] for key in LOAD_SETTINGS if key in base_model}
    # No default: every pipeline's parameter schema requires it (checked before a run).
    settings["architecture"] = base_model["architecture"]
    if settings.get("config_overrides") is None:
        settings.pop("config_overrides", None)
    # The first problem is the one said: architecture before quantization, as always.
    for key, value in settings.items():
        if problem := field_problem(key, value):
            raise ConfigurationError(f"base_model.{problem}")
    return BaseModelManifest(
        name_or_path=pretrained_model["name_or_path"],
        revision=pretrained_model.get("revision"),
        base_model_random=bool(pretrained_model.get("random_weights", False)),
        note=pretrained_model.get("note"),
        **settings,
    )


def base_model_fields(manifest: BaseModelManifest) -> dict[str, Any]:
    """What every report says of its base: which model, whether its weights are random, the note."""
    return {
        "base_model": manifest.name_or_path,
        "base_model_random": manifest.base_model_random,
        "base_model_note": manifest.note,
    }


def add_peft_adapter(
    base_model_manifest: BaseModelManifest, peft: dict[str, Any]
) -> tuple[PeftModel, dict[str, Any]]:
    """Load the base the manifest describes and wrap it with the configured PEFT method.

    The summary (parameter counts, adapted and unmatched modules) goes to ``peft_summary.json``.
    """
    peft_model, summary = wrap_with_peft(load_base_model(base_model_manifest), peft)
    return peft_model, {**summary, **base_model_fields(base_model_manifest)}


def fit_adapter(
    peft_model: PeftModel,
    base_model_manifest: BaseModelManifest,
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
        fingerprint_parts={
            # Its base folder relative to the project: a copied project resumes its checkpoints.
            "base_model": base_model_manifest.portable().to_mapping(),
            "peft": dict(peft),
        },
        seq2seq=seq2seq,
    )
    if isinstance(trained, PeftModel):
        log["adapter_bytes"] = adapter_state_bytes(trained)
    return trained, {**log, **base_model_fields(base_model_manifest)}


def report_provenance(
    manifest: BaseModelManifest, peft: dict[str, Any], split: str, seed: int | None
) -> dict[str, Any]:
    """The keys every metrics report carries, so a figure can be traced to its model, data and code."""
    provenance = {
        "split": split,
        "base_model": manifest.name_or_path,
        "base_model_random": manifest.base_model_random,
        "quantization": manifest.quantization,
        "peft_config": dict(peft),
        "seed": seed,
        "git_commit": git_commit(),
        "package_versions": package_versions(),
    }
    if manifest.note:
        provenance["note"] = manifest.note
    return provenance
