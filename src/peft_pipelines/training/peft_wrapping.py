"""Wrapping a base model with a PEFT method chosen entirely by configuration."""

from __future__ import annotations

import logging
import re
from typing import Any

from peft import (
    PEFT_TYPE_TO_CONFIG_MAPPING,
    PeftConfig,
    PeftModel,
    PromptLearningConfig,
    get_peft_config,
    get_peft_model,
    get_peft_model_state_dict,
)
from torch import nn

logger = logging.getLogger(__name__)


def peft_config_from_params(params: dict[str, Any]) -> PeftConfig:
    """A ``PeftConfig`` from a parameters mapping: ``peft_type`` (LORA, ADALORA, IA3...),
    optional ``task_type``, and the method's own arguments.

    ``task_type`` may be left out on purpose: for Whisper, ``SEQ_2_SEQ_LM``
    makes PEFT pass ``input_ids`` to a model that takes ``input_features``.
    """
    config = {
        key: value for key, value in params.items() if value is not None or key == "task_type"
    }
    if config.get("task_type") is None:
        config.pop("task_type", None)
    for key in ("target_modules", "feedforward_modules", "modules_to_save"):
        if isinstance(config.get(key), list | tuple):
            config[key] = list(config[key])
    return get_peft_config(config)


def is_prompt_learning(method: str) -> bool:
    """Whether PEFT method ``method`` (``PROMPT_TUNING``, ``PREFIX_TUNING``...) learns virtual tokens fed as ``input_ids``."""
    config_class = PEFT_TYPE_TO_CONFIG_MAPPING.get(method)
    return config_class is not None and issubclass(config_class, PromptLearningConfig)


def peft_methods(model: PeftModel) -> list[str]:
    """The PEFT method of each adapter of ``model`` (``LORA``, ``PROMPT_TUNING``...)."""
    return [
        str(getattr(config.peft_type, "value", config.peft_type))
        for config in model.peft_config.values()
    ]


def adapter_state_bytes(model: PeftModel) -> int:
    """Bytes of the tensors ``save_pretrained`` writes for the active adapter (its file, less the header)."""
    state = get_peft_model_state_dict(model, adapter_name=model.active_adapter)
    return sum(tensor.numel() * tensor.element_size() for tensor in state.values())


def _module_matches(name: str, target: str) -> bool:
    return name == target or name.endswith(f".{target}")


def unmatched_targets(model: nn.Module, targets: list[str] | str | None) -> list[str]:
    """The configured target module names that match no module of ``model``."""
    if not targets or isinstance(
        targets, str
    ):  # a regex (str) or "all-linear" is PEFT's to resolve
        return []
    names = [name for name, _ in model.named_modules()]
    return [
        target for target in targets if not any(_module_matches(name, target) for name in names)
    ]


def parameter_counts(model: nn.Module) -> dict[str, Any]:
    """Trainable and total parameters, as PEFT's ``print_trainable_parameters`` counts them.

    bitsandbytes packs 4-bit weights two to a byte, so their element count is
    doubled back to the logical count.
    """
    trainable = total = 0
    for parameter in model.parameters():
        count = parameter.numel()
        if parameter.__class__.__name__ == "Params4bit":
            count *= 2
        total += count
        if parameter.requires_grad:
            trainable += count
    return {
        "trainable": trainable,
        "total": total,
        "trainable_percent": round(100 * trainable / total, 4),
    }


def wrap_with_peft(
    model: nn.Module, peft_params: dict[str, Any]
) -> tuple[PeftModel, dict[str, Any]]:
    """Wrap ``model`` with the configured PEFT method; return it and a summary.

    The summary holds the PEFT config, trainable and total parameter counts,
    the modules that received adapters, and the configured targets that
    matched nothing (each also logged as a warning: a misspelt target module
    silently trains less than intended, e.g. OPT's ``fc_in`` which does not exist).
    """
    config = peft_config_from_params(dict(peft_params))
    targets = getattr(config, "target_modules", None)
    targets = sorted(targets) if isinstance(targets, set) else targets
    missing = unmatched_targets(model, targets)
    for target in missing:
        logger.warning(
            "PEFT target module %r matches no module of %s", target, type(model).__name__
        )
    peft_model = get_peft_model(model, config)
    adapted = sorted(
        {
            re.sub(r"\.\d+\.", ".N.", name.removeprefix("base_model.model."))
            for name, module in peft_model.named_modules()
            if hasattr(module, "base_layer")
        }
    )
    summary = {
        "peft_type": str(
            config.peft_type.value if hasattr(config.peft_type, "value") else config.peft_type
        ),
        "peft_config": {
            key: sorted(value) if isinstance(value, set) else value
            for key, value in config.to_dict().items()
            if isinstance(value, set) or _json_safe(value)
        },
        "parameters": parameter_counts(peft_model),
        "adapted_modules": adapted,
        "adapted_module_count": sum(
            1 for _, m in peft_model.named_modules() if hasattr(m, "base_layer")
        ),
        "unmatched_target_modules": missing,
    }
    counts = summary["parameters"]
    logger.info(
        "trainable params: %s || all params: %s || trainable%%: %.4f",
        f"{counts['trainable']:,}",
        f"{counts['total']:,}",
        counts["trainable_percent"],
    )
    return peft_model, summary


def _json_safe(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | dict)
