"""Sizing an adapter run with no weights and no network: the architecture built on the meta device.

    peft-pipelines-size --env full --pipeline whisper_zh
    peft-pipelines-size --env full --pipeline opt_quotes

prints (and writes as JSON with ``--out``) the parameter counts of the
configured base and PEFT method, and an estimate of memory for the quantized
base and for training. Counts come from the model's config, never typed in.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

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


def _whisper_on_meta(base_model: dict[str, Any], model_params: dict[str, Any]) -> nn.Module:
    from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperProcessor  # noqa: PLC0415

    from peft_pipelines.speech.tiny_whisper import tiny_whisper_config  # noqa: PLC0415

    if base_model.get("init") == "random_tiny":
        processor = WhisperProcessor.from_pretrained(model_params["processor"])
        config = tiny_whisper_config(processor, dict(base_model["random_tiny"]["architecture"]))
    else:
        source = base_model.get("architecture_config") or base_model["name_or_path"]
        if base_model.get("init") == "ctranslate2" and not Path(source, "config.json").is_file():
            raise SystemExit(
                f"{source} is converted from the CTranslate2 file on the first run of the "
                "pipeline: run it first"
            )
        config = WhisperConfig.from_pretrained(source)
    with torch.device("meta"):
        return WhisperForConditionalGeneration(config)


def _causal_lm_on_meta(base_model: dict[str, Any]) -> nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, OPTConfig  # noqa: PLC0415

    if base_model.get("init") == "random_tiny":
        tiny = base_model["random_tiny"]
        vocab = len(AutoTokenizer.from_pretrained(tiny["tokenizer"]))
        config = OPTConfig(vocab_size=vocab, **dict(tiny["architecture"]))
    else:
        source = base_model.get("architecture_config") or base_model["name_or_path"]
        if base_model.get("init") == "gguf" and not Path(source, "config.json").is_file():
            raise SystemExit(
                f"{source} is made from the GGUF file on the first run of the pipeline: run it first"
            )
        config = AutoConfig.from_pretrained(source)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


MODELS_ON_META = {
    "whisper_zh": lambda params: _whisper_on_meta(params["base_model"], params["model"]),
    "opt_quotes": lambda params: _causal_lm_on_meta(params["base_model"]),
}


def main(argv: list[str] | None = None) -> int:
    """Console entry point: size the configured model of a pipeline in a configuration environment."""
    from kedro.config import OmegaConfigLoader  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        description="Parameter counts and memory estimate, without weights."
    )
    parser.add_argument(
        "--env", default="base", help="configuration environment: base (offline default) or full"
    )
    parser.add_argument("--pipeline", default="whisper_zh")
    parser.add_argument("--conf-source", default="conf")
    parser.add_argument("--out", help="also write the summary as JSON here")
    args = parser.parse_args(argv)

    loader = OmegaConfigLoader(
        conf_source=args.conf_source, base_env="base", default_run_env=args.env
    )
    if args.pipeline not in loader["parameters"]:
        print(f"error: no parameters for pipeline {args.pipeline}", file=sys.stderr)
        return 2
    params = loader["parameters"][args.pipeline]
    base_model = params["base_model"]
    if args.pipeline not in MODELS_ON_META:
        print(f"error: sizing knows {sorted(MODELS_ON_META)}, not {args.pipeline}", file=sys.stderr)
        return 2
    model = MODELS_ON_META[args.pipeline](params)
    summary = size_on_meta(model, params["peft"], base_model.get("quantization", "int8"))
    summary["base_model"] = base_model["name_or_path"]
    counts, memory = summary["parameters"], summary["memory_estimate"]
    print(f"{args.pipeline} ({args.env}): {base_model['name_or_path']}, {summary['peft_type']}")
    print(
        f"trainable {counts['trainable']:,} of {counts['total']:,} ({counts['trainable_percent']:.4f} %)"
    )
    for target in summary["unmatched_target_modules"]:
        print(f"warning: target module {target!r} matches no module of the model")
    print(
        f"memory: base weights {memory['base_weights_gib']} GiB ({summary['quantization']}), "
        f"adapter training state {memory['adapter_training_state_gib']} GiB, activations not included"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
