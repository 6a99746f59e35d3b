"""Full-scale training cost: whisper-large-v2 and OPT-6.7B in 8-bit with the seed's LoRA, a few steps each.

Standalone (torch, transformers, peft, bitsandbytes; no Kedro, no datasets, no
network), so it runs on a lent GPU machine as it is. Each model is built from
its architecture config (``data/01_raw/model_configs``) with random fp16
weights, saved to local disk, and loaded back through ``from_pretrained`` with
``BitsAndBytesConfig(load_in_8bit=True)``: the only way transformers
quantizes, and the same path as the pipelines' ``load_base_model``. Then
``prepare_model_for_kbit_training`` (gradient checkpointing on, as the seed's
``prepare_model_for_int8_training`` did), the seed's LoRA settings, and
training steps at the seed's batch sizes (Whisper 64 clips of 30 s, OPT 4
sequences) on random inputs: the cost of a step does not depend on the
weights' values. Prints peak GPU memory, seconds per step and samples per
second beside the seed's T4 figures (``shared/reference/seed-figures.md``).

    python -m benchmarks.gpu_full_scale                # CUDA; about 3-4 minutes on an H200
    python -m benchmarks.gpu_full_scale --reduced      # CPU, tiny configs, 2 steps (the test runs this)

On a machine without bitsandbytes, install its wheel first (see the README's
Performance section for the command the GPU run used).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSpeechSeq2Seq,
    BitsAndBytesConfig,
)

CONFIGS = Path(__file__).resolve().parents[1] / "data" / "01_raw" / "model_configs"

# The seed notebooks' settings and what they printed on one T4 (seed-figures.md).
SEED = {
    "whisper": {
        "config": "whisper-large-v2",
        "model_class": AutoModelForSpeechSeq2Seq,  # WhisperForConditionalGeneration
        "lora": {"r": 4, "lora_alpha": 64, "target_modules": ["q_proj", "v_proj"]},
        "batch_size": 64,
        "seed_trainable": 1_966_080,
        "t4": {"seconds_per_step": 62.4, "samples_per_second": 1.03, "memory_gb": 13.5},
    },
    "opt": {
        "config": "opt-6.7b",
        "model_class": AutoModelForCausalLM,
        # fc_in / fc_out match nothing in OPT (its MLP is fc1 / fc2): the seed's count
        # came from the four attention projections, which is what is trained here.
        "lora": {
            "r": 8,
            "lora_alpha": 32,
            "target_modules": ["q_proj", "k_proj", "v_proj", "out_proj"],
            "task_type": "CAUSAL_LM",
        },
        "batch_size": 4,
        "seed_trainable": 8_388_608,
        "t4": {"seconds_per_step": 2.52, "samples_per_second": 1.59, "memory_gb": 6.80},
    },
}
WHISPER_LABEL_TOKENS = 32  # a Common Voice zh sentence is about 15-30 tokens with Whisper's prefix
OPT_SEQUENCE_TOKENS = 96  # english_quotes batches of 4, padded to their longest quote
TINY = {
    "whisper": {
        "d_model": 64,
        "encoder_layers": 2,
        "decoder_layers": 2,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "encoder_ffn_dim": 128,
        "decoder_ffn_dim": 128,
        "max_source_positions": 250,
    },
    "opt": {
        "hidden_size": 64,
        "word_embed_proj_dim": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "ffn_dim": 128,
    },
}


def architecture_config(kind: str, reduced: bool):
    config = AutoConfig.from_pretrained(CONFIGS / SEED[kind]["config"])
    if reduced:
        for key, value in TINY[kind].items():
            setattr(config, key, value)
    return config


def save_random_checkpoint(kind: str, config, folder: Path, device: str) -> None:
    """Random fp16 weights of ``config``, initialised on ``device`` (fast on a GPU), saved to ``folder``."""
    with torch.device(device):
        model = SEED[kind]["model_class"].from_config(config, dtype=torch.float16)
    model.save_pretrained(folder)
    del model
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def load_8bit_with_lora(kind: str, folder: Path, device: str):
    model = SEED[kind]["model_class"].from_pretrained(
        folder,
        quantization_config=BitsAndBytesConfig(load_in_8bit=True),
        device_map={"": device},
    )
    if kind == "whisper":  # as the seed notebook, and our base-model loader
        model.config.forced_decoder_ids = None
        model.config.suppress_tokens = []
        model.accepts_loss_kwargs = False
    model.config.use_cache = False
    model = prepare_model_for_kbit_training(
        model,
        use_gradient_checkpointing=True,
        gradient_checkpointing_kwargs={"use_reentrant": False},
    )
    lora = LoraConfig(**SEED[kind]["lora"], lora_dropout=0.05, bias="none")
    return get_peft_model(model, lora)


def full_size_trainable_parameters(kind: str) -> int:
    """Trainable parameters of the seed's LoRA on the full-size model, counted on the meta device (no weights)."""
    with torch.device("meta"):
        model = SEED[kind]["model_class"].from_config(architecture_config(kind, reduced=False))
    lora = get_peft_model(model, LoraConfig(**SEED[kind]["lora"], lora_dropout=0.05, bias="none"))
    return sum(p.numel() for p in lora.parameters() if p.requires_grad)


def random_batch(kind: str, config, batch_size: int, device: str) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    if kind == "whisper":
        frames = 2 * config.max_source_positions
        return {
            "input_features": torch.randn(
                batch_size, config.num_mel_bins, frames, generator=generator
            ).to(device),
            "labels": torch.randint(
                0, config.vocab_size, (batch_size, WHISPER_LABEL_TOKENS), generator=generator
            ).to(device),
        }
    ids = torch.randint(
        0, config.vocab_size, (batch_size, OPT_SEQUENCE_TOKENS), generator=generator
    ).to(device)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}


def train_steps(model, batch: dict[str, torch.Tensor], steps: int, device: str) -> list[float]:
    """One untimed warm-up step, then ``steps`` timed optimizer steps; seconds of each."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    seconds = []
    for step in range(steps + 1):
        started = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.float16, enabled=device == "cuda"):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if step > 0:
            seconds.append(time.perf_counter() - started)
    return seconds


def peak_memory_gb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_reserved() / 1e9
    return (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    )  # whole process, CPU mode


def measure(kind: str, *, reduced: bool, steps: int, device: str, scratch: Path) -> dict[str, Any]:
    config = architecture_config(kind, reduced)
    folder = scratch / kind
    started = time.perf_counter()
    save_random_checkpoint(kind, config, folder, device)
    model = load_8bit_with_lora(kind, folder, device)
    shutil.rmtree(folder)
    load_seconds = time.perf_counter() - started
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    batch_size = SEED[kind]["batch_size"]
    seconds = train_steps(model, random_batch(kind, config, batch_size, device), steps, device)
    per_step = sum(seconds) / len(seconds)
    result = {
        "model": SEED[kind]["config"] + (" (reduced: tiny config)" if reduced else ""),
        "batch_size": batch_size,
        "steps": len(seconds),
        "trainable_parameters": trainable,
        "full_size_trainable_parameters": full_size_trainable_parameters(kind),
        "seed_trainable_parameters": SEED[kind]["seed_trainable"],
        "build_and_load_seconds": round(load_seconds, 1),
        "seconds_per_step": round(per_step, 3),
        "samples_per_second": round(batch_size / per_step, 2),
        "peak_memory_gb": round(peak_memory_gb(device), 2),
        "seed_t4": SEED[kind]["t4"],
    }
    del model
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true", help="tiny configs on the CPU, 2 steps")
    parser.add_argument("--models", nargs="+", default=["whisper", "opt"], choices=sorted(SEED))
    parser.add_argument("--steps", type=int, help="timed steps per model (default 3, reduced 2)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    device = "cpu" if args.reduced else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device: run with --reduced for the CPU check")
    steps = args.steps or (2 if args.reduced else 3)
    where = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
    print(f"device: {where}; torch {torch.__version__}; random weights (cost figures only)")
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for kind in args.models:
            r = measure(
                kind, reduced=args.reduced, steps=steps, device=device, scratch=Path(scratch)
            )
            results.append(r)
            t4 = r["seed_t4"]
            memory = "peak GPU memory (reserved)" if device == "cuda" else "peak process RSS"
            print(
                f"{r['model']}, 8-bit + LoRA, batch {r['batch_size']}: "
                f"{r['seconds_per_step']:.3f} s/step, {r['samples_per_second']:.2f} samples/s, "
                f"{memory} {r['peak_memory_gb']:.2f} GB; trainable {r['trainable_parameters']:,}; "
                f"built and loaded in {r['build_and_load_seconds']} s"
            )
            print(
                f"    full size, trainable (meta device): {r['full_size_trainable_parameters']:,}; "
                f"the seed printed {r['seed_trainable_parameters']:,}"
            )
            print(
                f"    seed on one T4: {t4['seconds_per_step']} s/step, {t4['samples_per_second']} samples/s, "
                f"about {t4['memory_gb']} GB"
            )
    if args.json:
        args.json.write_text(json.dumps({"device": where, "results": results}, indent=1))


if __name__ == "__main__":
    main()
