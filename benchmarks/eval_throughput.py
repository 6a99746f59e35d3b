"""Transcription throughput: batched generation (as evaluate_transcription runs it) against one clip at a time.

Same model, same test clips, same greedy decoding, in one invocation: each clip
alone (what transcribing files one by one costs), then in batches of
``--batch-size``. Prints clips per second for each, the ratio, and how many
transcripts the two ways agree on.

The model is the pipeline's base: OpenAI's whisper-base converted from the
CTranslate2 files (``whisper_zh.base_model.ctranslate2`` in conf/base; converted
into ``data/06_models/whisper-base`` here if ``kedro run`` has not done it yet),
loaded in 8-bit with the training input window (``base_model.window_seconds``),
as ``evaluate_transcription`` decodes the test clips; generation as
``whisper_zh.evaluation`` sets it. ``--base`` names another Whisper folder.
``--reduced`` uses the random-weight tiny Whisper of
``whisper_zh.base_model.random_tiny`` instead (what the tests run): a random
model decodes its whole token budget every time, so its figures are those of
full-length transcripts, and say so.

    python -m benchmarks.eval_throughput [--times 4] [--batch-size 16] [--base FOLDER | --reduced]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from kedro.config import OmegaConfigLoader

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
from peft_pipelines.speech.ctranslate2_whisper import convert_packaged_whisper, packaged_parts
from peft_pipelines.speech.tiny_whisper import build_tiny_whisper
from peft_pipelines.speech.transcribe import generate_transcripts
from peft_pipelines.training.base_model import load_base_model


def whisper_zh_parameters() -> dict[str, Any]:
    """``whisper_zh``'s parameters as conf/base sets them, read by Kedro's config loader."""
    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="base")
    return loader["parameters"]["whisper_zh"]


def random_tiny_architecture() -> dict:
    """``whisper_zh.base_model.random_tiny.architecture`` as conf/base sets it."""
    return dict(whisper_zh_parameters()["base_model"]["random_tiny"]["architecture"])


def add_model_choice(parser: argparse.ArgumentParser, reduced_help: str) -> None:
    """``--base FOLDER`` or ``--reduced`` (the tests' tiny model); neither: converted whisper-base."""
    models = parser.add_mutually_exclusive_group()
    models.add_argument(
        "--base", help="a Whisper model folder; default: whisper-base converted from CTranslate2"
    )
    models.add_argument("--reduced", action="store_true", help=reduced_help)


def converted_whisper_base(params: dict[str, Any]) -> Path:
    """The folder of whisper-base converted from CTranslate2 as the pipeline converts it.

    The conversion runs as ``describe_base_model`` runs it (same parameters,
    paths relative to the project), so the folder ``kedro run`` made is reused,
    and one made here is the one ``kedro run`` reuses.
    """
    base_model, model = params["base_model"], params["model"]
    parts, config = packaged_parts(base_model["ctranslate2"])
    with contextlib.chdir(PROJECT_ROOT):
        convert_packaged_whisper(
            parts, config, model["processor"], Path(base_model["name_or_path"])
        )
    return PROJECT_ROOT / base_model["name_or_path"]


def in_float32_unless_quantized(model: Any, quantization: str) -> Any:
    """``model`` in float32 when it is not quantized.

    ``load_base_model`` with ``quantization: none`` keeps the dtype the folder was
    saved in, and the converted whisper-base is saved in float16, which the
    float32 log-mel features cannot go through on the CPU. The 8-bit path puts
    the rest of the model in float32 itself (``prepare_model_for_kbit_training``).
    """
    return model.float() if quantization == "none" else model


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
    params = whisper_zh_parameters()
    evaluation = params["evaluation"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--times", type=int, default=4, help="copies of the bundled test split (25 clips)"
    )
    parser.add_argument("--batch-size", type=int, default=int(evaluation["batch_size"]))
    parser.add_argument("--max-new-tokens", type=int, default=int(evaluation["max_new_tokens"]))
    parser.add_argument(
        "--tokens-per-second", type=float, default=float(evaluation["tokens_per_second"])
    )
    parser.add_argument(
        "--window-seconds",
        type=float,
        default=params["base_model"].get("window_seconds"),
        help="the encoder's input window (default: base_model.window_seconds; 0: the model's own)",
    )
    add_model_choice(
        parser, "the random tiny Whisper of base_model.random_tiny (what the tests run)"
    )
    parser.add_argument("--quantization", default="int8", choices=["none", "int8"])
    args = parser.parse_args()
    processor = load_whisper_processor(
        {"processor": str(PROCESSOR), "language": "zh", "task": "transcribe"}
    )

    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        if args.reduced:
            base = str(
                build_tiny_whisper(
                    str(PROCESSOR),
                    random_tiny_architecture(),
                    seed=0,
                    out_dir=str(scratch / "tiny"),
                )
            )
        else:
            base = args.base or str(converted_whisper_base(params))
        model = load_base_model(
            {
                "name_or_path": base,
                "architecture": "whisper",
                "quantization": args.quantization,
                "config_overrides": {"forced_decoder_ids": None, "suppress_tokens": []},
                "window_seconds": args.window_seconds or None,
            }
        )
        model = in_float32_unless_quantized(model, args.quantization)
        model.eval()
        window = input_window(model.config.max_source_positions, processor.feature_extractor)
        clips = test_clips(scratch, args.times, window)

    generation = {
        "language": "zh",
        "task": "transcribe",
        "max_new_tokens": args.max_new_tokens,
        "tokens_per_second": args.tokens_per_second,
    }
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
    label = (
        "RANDOM-WEIGHT tiny Whisper (transcripts run to their token budget)"
        if args.reduced
        else base
    )
    print(
        f"model: {label}, {args.quantization}, {window['seconds']:g} s window; "
        f"{len(clips)} test clips; {torch.get_num_threads()} torch threads"
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
