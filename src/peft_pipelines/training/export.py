"""Export nodes every fine-tuning pipeline shares: merge the adapter into its base, convert to CTranslate2.

The adapter trains on an 8-bit base; a served model is the adapter merged into
the base loaded unquantized (float32 on the CPU, float16 on a GPU), saved as a
transformers folder, then converted by CTranslate2's own converter. The base
is exported the same way (or, when packages already ship it as a CTranslate2
model, assembled from their files), so the two compare on one engine. The
nodes only say what to write; the catalog's datasets
(:mod:`peft_pipelines.io.exported_models`) write it, whole or not at all.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

from peft_pipelines.errors import UserError
from peft_pipelines.io.base_model_manifest import BaseModelManifest
from peft_pipelines.io.exported_models import (
    CTranslate2Assembly,
    CTranslate2Conversion,
    ExportVerdict,
    MergedModel,
)
from peft_pipelines.io.model_loading import load_base_model, load_processor, training_device

logger = logging.getLogger(__name__)


class ExportParityError(UserError, RuntimeError):
    """An export whose figures drift from the merged model's beyond the configured tolerance."""


@dataclass(frozen=True)
class ExportSettings:
    """The ``export`` parameters: the CTranslate2 weights' type and how close an export must stay.

    ``max_perplexity_gap``: the largest relative perplexity difference from the
    merged model that passes; ``compared_tokens``: how many leading greedy
    tokens are compared per prompt (reported, not a pass criterion).
    """

    quantization: str = "int8"
    max_perplexity_gap: float = 0.03
    compared_tokens: int = 16

    @classmethod
    def from_params(cls, export: dict[str, Any]) -> ExportSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in export.items() if key in known})


def unquantized(manifest: BaseModelManifest) -> BaseModelManifest:
    """The base as served: no quantization, its own full window, no training-only config overrides."""
    return dataclasses.replace(
        manifest,
        quantization="none",
        gradient_checkpointing=False,
        config_overrides={},
        window_seconds=None,
    )


def merge_adapter(adapter: PeftModel, base_model_manifest: BaseModelManifest) -> MergedModel:
    """The trained adapter merged into its base loaded unquantized (``merge_and_unload``).

    The adapter's weights are moved onto a fresh unquantized copy of the base:
    merging into the 8-bit base would round the merged weights to int8. The
    base's generation config (Whisper's alignment heads, language ids,
    suppressed tokens) and its tokenizer or processor go with it.
    """
    manifest = unquantized(base_model_manifest)
    base = load_base_model(manifest)
    config = copy.deepcopy(adapter.peft_config[adapter.active_adapter])
    config.inference_mode = True
    fresh = get_peft_model(base, config)
    loaded = set_peft_model_state_dict(fresh, get_peft_model_state_dict(adapter))
    if loaded.unexpected_keys:
        raise RuntimeError(f"adapter weights the fresh copy lacks: {loaded.unexpected_keys[:3]}")
    merged = fresh.merge_and_unload()
    merged.config.use_cache = True  # load_base_model turns the cache off for training
    if training_device() != "cpu":
        merged = merged.to(torch.float16)
    merged.eval()
    logger.info("Merged the adapter into %s (%s)", manifest.name_or_path, merged.dtype)
    return MergedModel(model=merged, processor=load_processor(manifest), base_manifest=manifest)


def export_ctranslate2(
    merged_model: BaseModelManifest, export: dict[str, Any]
) -> CTranslate2Conversion:
    """The merged folder, to be converted by CTranslate2 with weights in ``export["quantization"]``."""
    quantization = ExportSettings.from_params(export).quantization
    return CTranslate2Conversion(source=Path(merged_model.name_or_path), quantization=quantization)


def export_base_ctranslate2(
    pretrained_model: dict[str, Any], base_model_manifest: BaseModelManifest, export: dict[str, Any]
) -> CTranslate2Conversion | CTranslate2Assembly:
    """The unmerged base on the same engine: assembled if packages ship it as CTranslate2, else converted.

    A pretrained-model dataset that reads a CTranslate2 model from installed
    packages says so in its reference (``ctranslate2_files``); converting its
    float32 copy back would only add a round trip.
    """
    shipped = pretrained_model.get("ctranslate2_files")
    if shipped:
        return CTranslate2Assembly(
            model_parts=tuple(Path(part) for part in shipped["model_parts"]),
            files={name: Path(path) for name, path in shipped["files"].items()},
            texts=dict(shipped.get("texts", {})),
            quantization=shipped.get("quantization", "as shipped"),
        )
    quantization = ExportSettings.from_params(export).quantization
    return CTranslate2Conversion(
        source=Path(base_model_manifest.name_or_path), quantization=quantization
    )


def record_export_verdict(export_report: dict[str, Any]) -> dict[str, Any]:
    """The export report's verdict, saved beside the export so that only a passed one is served by default.

    Not enforced for a base with random weights (a test model): its outputs are
    noise that runs to the token budget, where the two engines' texts part for
    reasons that say nothing of the export.
    """
    passed = bool(export_report.get("passed", False))
    failures = () if passed else tuple(export_report.get("failures") or ["the export failed"])
    verdict = ExportVerdict(
        passed=passed, enforced=not export_report.get("base_model_random"), failures=failures
    )
    return verdict.as_dict()


def require_export_parity(export_verdict: dict[str, Any]) -> None:
    """Stop the run with one line if the export failed its parity check (report and verdict already saved).

    An unenforced verdict (a random-weight base) is a warning.
    """
    verdict = ExportVerdict.from_dict(export_verdict)
    if verdict.passed:
        return
    if not verdict.enforced:
        logger.warning(
            "The export's parity check failed and is not enforced, the base model having "
            "random weights: %s",
            "; ".join(verdict.failures),
        )
        return
    raise ExportParityError("; ".join(verdict.failures))
