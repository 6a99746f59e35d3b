"""Transcription throughput: batched generation (as evaluate_transcription runs it) against one clip at a time.

Same model, same test clips, same greedy decoding, in one invocation: each clip
alone (what transcribing files one by one costs), then in batches of
``--batch-size``. Prints clips per second for each, the ratio, and how many
transcripts the two ways agree on. The model is the random-weight tiny Whisper
of ``whisper_zh.base_model.random_tiny`` (loaded in 8-bit as the pipeline loads it) unless
``--base`` names another Whisper folder: a random model decodes up to
``--max-new-tokens`` every time, so its figures are those of full-length
transcripts, and say so.

    python -m benchmarks.eval_throughput [--times 4] [--batch-size 16] [--base FOLDER]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from benchmarks.scaled_corpus import PROCESSOR, repeat_corpus
from peft_pipelines.pipelines.whisper_zh.nodes import (
    extract_features_and_labels,
    ingest_corpus,
    load_whisper_processor,
    prune_columns,
    resample_to_16k,
)
from peft_pipelines.scratch_project import PROJECT_ROOT
from peft_pipelines.speech.collator import input_window
from peft_pipelines.speech.tiny_whisper import build_tiny_whisper
from peft_pipelines.speech.transcribe import generate_transcripts
from peft_pipelines.training.base_model import load_base_model


def random_tiny_architecture() -> dict:
    """``whisper_zh.base_model.random_tiny.architecture`` as conf/base sets it."""
    params = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_whisper_zh.yml").read_text())
    return params["whisper_zh"]["base_model"]["random_tiny"]["architecture"]


def test_clips(scratch: Path, times: int, window: dict) -> list:
    """Compact log-mel features of ``times`` x the bundled test split."""
    corpus = repeat_corpus(scratch / "corpus", times, ("test",))
    model = {"processor": str(PROCESSOR), "language": "zh", "task": "transcribe"}
    raw, _ = ingest_corpus(
        {"source": "common_voice_release", "dir": str(corpus), "splits": ["test"]}
    )
    pruned, _ = prune_columns(raw, ["audio", "sentence"])
    resampled, _ = resample_to_16k(pruned, {"sampling_rate": 16000}, window)
    features, _ = extract_features_and_labels(resampled, model, {"max_label_tokens": 448}, window)
    return [np.asarray(m, dtype=np.float32) for m in features["test"]["log_mel"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--times", type=int, default=4, help="copies of the bundled test split (25 clips)"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument(
        "--base",
        help="a Whisper model folder; default: a random tiny one",
    )
    parser.add_argument("--quantization", default="int8", choices=["none", "int8"])
    args = parser.parse_args()
    processor = load_whisper_processor(
        {"processor": str(PROCESSOR), "language": "zh", "task": "transcribe"}
    )

    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        base = args.base or str(
            build_tiny_whisper(
                str(PROCESSOR), random_tiny_architecture(), seed=0, out_dir=str(scratch / "tiny")
            )
        )
        random = args.base is None
        model = load_base_model(
            {
                "name_or_path": base,
                "architecture": "whisper",
                "quantization": args.quantization,
                "config_overrides": {"forced_decoder_ids": None, "suppress_tokens": []},
            }
        )
        model.eval()
        positions = model.config.max_source_positions
        clips = test_clips(
            scratch, args.times, input_window(positions, processor.feature_extractor)
        )

    generation = {"language": "zh", "task": "transcribe", "max_new_tokens": args.max_new_tokens}
    generate_transcripts(model, processor.tokenizer, clips[:2], **generation)  # warm-up

    started = time.perf_counter()
    one_by_one = [
        generate_transcripts(model, processor.tokenizer, [c], **generation)[0] for c in clips
    ]
    single_seconds = time.perf_counter() - started
    started = time.perf_counter()
    batched = []
    for start in range(0, len(clips), args.batch_size):
        batched += generate_transcripts(
            model, processor.tokenizer, clips[start : start + args.batch_size], **generation
        )
    batched_seconds = time.perf_counter() - started

    same = sum(a == b for a, b in zip(one_by_one, batched, strict=True))
    label = "RANDOM-WEIGHT tiny Whisper (transcripts run to max_new_tokens)" if random else base
    print(
        f"model: {label}, {args.quantization}; {len(clips)} test clips; "
        f"{torch.get_num_threads()} torch threads"
    )
    print(f"one clip at a time: {len(clips) / single_seconds:.2f} clips/s ({single_seconds:.1f} s)")
    print(
        f"batches of {args.batch_size}: {len(clips) / batched_seconds:.2f} clips/s ({batched_seconds:.1f} s)"
    )
    print(
        f"ratio batched/one-by-one: {single_seconds / batched_seconds:.1f}x; "
        f"identical transcripts: {same}/{len(clips)}"
    )


if __name__ == "__main__":
    main()
