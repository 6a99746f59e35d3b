"""Sizing an adapter run with no weights and no network: the architecture built on the meta device.

Parameter counts of the configured base and PEFT method, and an estimate of
memory for the quantized base and for training; counts come from the model's
config, never typed in. The console entry point is ``peft-pipelines-size``
(:mod:`peft_pipelines.cli`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AutoModelForCausalLM, PretrainedConfig, WhisperForConditionalGeneration

from peft_pipelines.training.peft_wrapping import wrap_with_peft

BYTES_PER_WEIGHT = {"none": 4.0, "int8": 1.0, "nf4": 0.5}
# Trainable parameters in float32: the weight, its gradient, and Adam's two moments.
TRAINABLE_BYTES = 4 + 4 + 8
GIB = 1024**3


def estimate_memory(model: nn.Module, quantization: str) -> dict[str, float | int]:
    """Memory of the weights, quantized as configured, and of the adapter's training state.

    bitsandbytes quantizes the ``nn.Linear`` weights; everything else (embeddings,
    norms, biases) stays in float32 after ``prepare_model_for_kbit_training``.
    Activations are not included: they depend on batch size and sequence length.
    """
    linear = frozen_other = trainable = 0
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            trainable += parameter.numel()
        elif name.endswith(".weight") and isinstance(
            model.get_submodule(name.rsplit(".", 1)[0]), nn.Linear
        ):
            linear += parameter.numel()
        else:
            frozen_other += parameter.numel()
    weights = linear * BYTES_PER_WEIGHT[quantization] + frozen_other * 4
    training = trainable * TRAINABLE_BYTES
    return {
        "base_weights_bytes": int(weights),
        "adapter_training_state_bytes": int(training),
        "base_weights_gib": round(weights / GIB, 3),
        "adapter_training_state_gib": round(training / GIB, 3),
        "total_without_activations_gib": round((weights + training) / GIB, 3),
    }


def size_on_meta(
    model: nn.Module, peft_params: dict[str, Any], quantization: str
) -> dict[str, Any]:
    """Wrap a meta-device model with the configured PEFT method; return the summary with a memory estimate."""
    _, summary = wrap_with_peft(model, peft_params)
    summary["memory_estimate"] = estimate_memory(model, quantization)
    summary["quantization"] = quantization
    return summary


def model_on_meta(config: PretrainedConfig, architecture: str) -> nn.Module:
    """The model of ``config`` on the meta device: every parameter's shape, no memory."""
    with torch.device("meta"):
        if architecture == "whisper":
            return WhisperForConditionalGeneration(config)
        return AutoModelForCausalLM.from_config(config)
