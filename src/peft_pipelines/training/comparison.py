"""Base against fine-tuned: the one way every report, command and page compares the two.

"Base" is the same loaded model with its adapter disabled (PEFT's
``disable_adapter``), so both sides share the quantization, the input window
and the decoding; "fine-tuned" is the model with its adapter on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Literal, TypeVar

from peft import PeftModel

from peft_pipelines.io.base_model_manifest import BaseModelManifest

logger = logging.getLogger(__name__)

Side = Literal["base", "finetuned"]
SIDES: tuple[Side, Side] = ("base", "finetuned")
# PEFT's name for "no adapter" in a mixed batch's adapter_names.
BASE_ROW = "__base__"
Result = TypeVar("Result")


def on_side(model: PeftModel, side: Side) -> AbstractContextManager:
    """Within the block the model is the base (``base``: adapter disabled) or the fine-tuned one."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, not {side!r}")
    return model.disable_adapter() if side == "base" else nullcontext()


def on_each_side(model: PeftModel, compute: Callable[[], Result]) -> dict[Side, Result]:
    """``compute()`` with the adapter off, then on: ``{"base": ..., "finetuned": ...}``."""
    results: dict[Side, Result] = {}
    for side in SIDES:
        with on_side(model, side):
            results[side] = compute()
    return results


def side_by_side_rows(model: PeftModel, rows_per_side: int) -> list[str]:
    """``adapter_names`` for one batch holding every input twice: base rows first, then fine-tuned.

    PEFT runs each row with its own adapter (:data:`BASE_ROW`: none), so one
    decoding pass gives both sides: on a CPU each step of an 8-bit model costs
    about the same for one row as for several.
    """
    return [BASE_ROW] * rows_per_side + [model.active_adapter] * rows_per_side


def mixes_adapters_in_a_batch(model: PeftModel) -> bool:
    """Whether PEFT runs each row of a batch with its own adapter (``adapter_names``) for this model.

    Only plain LoRA does: DoRA refuses it, AdaLoRA's and prompt learning's
    forward passes reject the argument, and IA3's ignore it (every row would
    get the adapter).
    """
    return all(
        str(getattr(config.peft_type, "value", config.peft_type)) == "LORA"
        and not getattr(config, "use_dora", False)
        for config in model.peft_config.values()
    )


def warn_if_random_base(manifest: BaseModelManifest) -> None:
    """Log the manifest's note when its base has random weights: every report of it says so too."""
    if manifest.base_model_random:
        logger.warning(manifest.note or "the base model's weights are random")
