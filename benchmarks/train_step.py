"""Training step cost: the seed's 30 s padded windows against our shorter input window.

The seed padded every clip to Whisper's 30 s (80 x 3000 float32) and trained
on that; we cut the encoder's position table to ``base_model.window_seconds``
(5 s) and pad each batch only to it. Same model, same LoRA, same batch, same
seed, in one invocation: the base is loaded and wrapped once, and each window
starts from the same adapter weights, a fresh AdamW and the same random state,
then runs ``--warmup`` untimed and ``--steps`` timed training steps (forward,
backward, gradient clipping at 1.0 as the Trainer does, AdamW step). Prints
seconds per step for each window and their ratio. Torch's thread count is left
as it is (set ``OMP_NUM_THREADS`` to choose it); the load average is printed,
since another process on the machine slows both figures.

The model is the pipeline's base: the catalog entry ``whisper_zh.pretrained_model``
(conf/base: OpenAI's whisper-base converted from the CTranslate2 files, into
``data/06_models/whisper-base`` here if ``kedro run`` has not done it yet), in
8-bit, with the seed's LoRA (r 4, alpha 64 on every q_proj and v_proj, dropout
0.05; ``--pipeline-lora``: ``whisper_zh.peft`` from conf/base). The batch is the
first ``--batch-size`` clips of the bundled corpus's train split. ``--reduced``
runs the random tiny Whisper of ``benchmarks.eval_throughput`` with a 30 s
position table (1500 positions), 1 step of 2 clips: the mechanics in seconds,
for the tests.

    python -m benchmarks.train_step [--steps 3] [--batch-size 8] [--window-seconds 5]
        [--quantization int8|none] [--pipeline-lora] [--base FOLDER | --reduced]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.eval_throughput import (
    RANDOM_TINY_ARCHITECTURE,
    add_model_choice,
    chosen_base_model,
    whisper_processor,
    whisper_zh_parameters,
)
from benchmarks.scaled_corpus import BUNDLED_CORPUS, read_split
from peft_pipelines.io.model_loading import load_base_model, set_whisper_encoder_window
from peft_pipelines.speech.audio import decode_to_mono
from peft_pipelines.speech.collator import collator_for
from peft_pipelines.speech.features import compact_log_mel
from peft_pipelines.training.nodes import describe_base_model
from peft_pipelines.training.peft_wrapping import wrap_with_peft

SEED = 42
SEED_WINDOW_POSITIONS = 1500  # Whisper's 30 s: 3000 log-mel frames, halved by conv2
# The seed notebook's LoRA: rank 4 on the query and value projections of every attention.
SEED_LORA = {
    "peft_type": "LORA",
    "task_type": None,
    "r": 4,
    "lora_alpha": 64,
    "target_modules": ["q_proj", "v_proj"],
    "lora_dropout": 0.05,
    "bias": "none",
}


def train_rows(processor: Any, batch_size: int) -> list[dict[str, Any]]:
    """The first ``batch_size`` train clips: compact log-mel (as stored) and labels with the prefix."""
    _, rows = read_split(BUNDLED_CORPUS, "train")
    rows = rows[:batch_size]
    if len(rows) < batch_size:
        raise SystemExit(f"the bundled train split has only {len(rows)} clips")
    rate = processor.feature_extractor.sampling_rate
    audio = [
        decode_to_mono((BUNDLED_CORPUS / "clips" / r["path"]).read_bytes(), rate) for r in rows
    ]
    log_mel = compact_log_mel(audio, processor.feature_extractor)
    labels = processor.tokenizer([r["sentence"] for r in rows]).input_ids
    return [
        {"log_mel": m, "labels": ids, "seconds": len(a) / rate}
        for m, ids, a in zip(log_mel, labels, audio, strict=True)
    ]


def time_window(
    model: torch.nn.Module,
    start: dict[str, torch.Tensor],
    rows: list[dict[str, Any]],
    seconds: float | None,
    *,
    learning_rate: float,
    warmup: int,
    steps: int,
) -> dict[str, Any]:
    """Seconds per training step with the encoder cut to ``seconds`` (None: its full table)."""
    positions = set_whisper_encoder_window(model, seconds)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name in start:
                parameter.copy_(start[name])
    batch = collator_for(model.get_base_model().config)(rows)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.0)
    torch.manual_seed(SEED)  # the same dropout masks for both windows
    model.train()
    losses, timed = [], []
    for step in range(warmup + steps):
        began = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        elapsed = time.perf_counter() - began
        losses.append(float(loss.detach()))
        if step >= warmup:
            timed.append(elapsed)
    return {
        "positions": positions,
        "frames": tuple(batch["input_features"].shape[1:]),
        "seconds_per_step": sum(timed) / len(timed),
        "fastest": min(timed),
        "first_loss": losses[0],
        "last_loss": losses[-1],
    }


def main() -> None:
    params = whisper_zh_parameters()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help="timed steps (default 3; --reduced: 1)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps before them")
    parser.add_argument("--batch-size", type=int, help="clips per step (default 8; --reduced: 2)")
    parser.add_argument(
        "--window-seconds",
        type=float,
        default=float(params["base_model"]["window_seconds"] or 5),
        help="our input window, against the seed's 30 s (default: base_model.window_seconds)",
    )
    parser.add_argument("--quantization", default="int8", choices=["none", "int8"])
    parser.add_argument(
        "--pipeline-lora",
        action="store_true",
        help="whisper_zh.peft from conf/base instead of the seed's LoRA",
    )
    add_model_choice(parser, "random tiny Whisper (30 s table), 1 step of 2 clips: for the tests")
    args = parser.parse_args()
    steps = args.steps or (1 if args.reduced else 3)
    batch_size = args.batch_size or (2 if args.reduced else 8)
    processor = whisper_processor()
    rows = train_rows(processor, batch_size)
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory() as scratch:
        architecture = {**RANDOM_TINY_ARCHITECTURE, "max_source_positions": SEED_WINDOW_POSITIONS}
        reference = chosen_base_model(args, Path(scratch, "tiny"), architecture)
        base = args.base or reference["name_or_path"]
        label = "RANDOM-WEIGHT tiny Whisper (30 s position table)" if args.reduced else base
        # The encoder's whole position table: each timed window sets its own.
        manifest = describe_base_model(
            reference,
            {
                **params["base_model"],
                "quantization": args.quantization,
                "window_seconds": None,
                "gradient_checkpointing": False,
            },
        )
        model = load_base_model(manifest)
    full_positions = model.config.max_source_positions
    if full_positions != SEED_WINDOW_POSITIONS:
        raise SystemExit(
            f"{base} takes {full_positions / 50:g} s, not Whisper's 30 s: no seed window to compare"
        )
    torch.manual_seed(SEED)
    peft = dict(params["peft"]) if args.pipeline_lora else SEED_LORA
    model, summary = wrap_with_peft(model, peft)
    start = {
        name: parameter.detach().clone()
        for name, parameter in model.named_parameters()
        if parameter.requires_grad
    }
    run = {
        "learning_rate": float(params["training"]["learning_rate"]),
        "warmup": args.warmup,
        "steps": steps,
    }
    seed_way = time_window(model, start, rows, None, **run)
    ours = time_window(model, start, rows, args.window_seconds, **run)

    durations = [row["seconds"] for row in rows]
    targets = peft["target_modules"]
    targets = targets if isinstance(targets, str) else ", ".join(targets)
    print(
        f"model: {label}, {args.quantization}; {peft['peft_type']} r {peft['r']}, "
        f"alpha {peft['lora_alpha']} on {targets} "
        f"({summary['parameters']['trainable']:,} trainable parameters)"
    )
    print(
        f"batch: {len(rows)} train clips ({min(durations):.1f}-{max(durations):.1f} s); "
        f"{args.warmup} warm-up + {steps} timed steps each; {torch.get_num_threads()} torch "
        f"threads; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    print(f"{'':<32}{'input':>12}{'s/step':>10}{'fastest':>10}{'loss first / last':>20}")
    for name, result in (
        ("(a) seed's 30 s padded window", seed_way),
        (f"(b) ours, {args.window_seconds:g} s window", ours),
    ):
        mels, frames = result["frames"]
        losses = f"{result['first_loss']:.3f} / {result['last_loss']:.3f}"
        print(
            f"{name:<32}{f'{mels} x {frames}':>12}{result['seconds_per_step']:>10.3f}"
            f"{result['fastest']:>10.3f}"
            f"{losses:>20}"
        )
    ratio = seed_way["seconds_per_step"] / ours["seconds_per_step"]
    print(f"ratio 30 s / {args.window_seconds:g} s: {ratio:.1f}x")


if __name__ == "__main__":
    main()
