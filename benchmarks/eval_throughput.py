"""Transcription throughput: batched generation (as evaluate_transcription runs it) against one clip at a time.

Same model, same test clips, same greedy decoding, in one invocation: each clip
alone (what transcribing files one by one costs), then in batches of
``--batch-size``. Prints clips per second for each, the ratio, and how many
transcripts the two ways agree on.

The model is the pipeline's base: the catalog entry ``whisper_zh.pretrained_model``
(conf/base: OpenAI's whisper-base converted from the CTranslate2 files, into
``data/06_models/whisper-base`` here if ``kedro run`` has not done it yet),
loaded in 8-bit with the training input window (``base_model.window_seconds``),
as ``evaluate_transcription`` decodes the test clips; generation as
``whisper_zh.evaluation`` sets it. ``--base`` names another Whisper folder.
``--reduced`` uses a random-weight tiny Whisper instead (``RANDOM_TINY_ARCHITECTURE``,
what the tests run): a random model decodes its whole token budget every time,
so its figures are those of full-length transcripts, and say so.

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
from kedro.io import DataCatalog
from transformers import WhisperProcessor

from benchmarks.gpu_full_scale import TINY
from benchmarks.scaled_corpus import PROCESSOR, repeat_corpus
from peft_pipelines.io import PretrainedModelDataset
from peft_pipelines.io.common_voice import read_common_voice_release
from peft_pipelines.io.model_loading import load_base_model
from peft_pipelines.pipelines.whisper_zh.nodes import ingest_corpus, prune_columns
from peft_pipelines.speech import TinyRandomWhisperDataset
from peft_pipelines.speech.collator import input_window
from peft_pipelines.speech.decoding import DecodingOptions
from peft_pipelines.speech.nodes import (
    extract_features_and_labels,
    resample_to_16k,
    with_prefix_tokens,
)
from peft_pipelines.speech.transcribe import transcribe_features
from peft_pipelines.training.nodes import describe_base_model
from tests.scratch_project import PROJECT_ROOT

PRETRAINED_MODEL = "whisper_zh.pretrained_model"
# The random tiny Whisper of the --reduced runs (the GPU check's tiny shape: a 5 s window,
# two layers each side), with Whisper's 448 decoder positions for the default token budget.
RANDOM_TINY_ARCHITECTURE = {**TINY["whisper"], "max_target_positions": 448}


def project_config(kind: str) -> dict[str, Any]:
    """The project's ``parameters`` or ``catalog`` as ``kedro run`` reads them (conf/base, conf/local over it)."""
    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="local")
    return loader[kind]


def whisper_zh_parameters() -> dict[str, Any]:
    """``whisper_zh``'s parameters, read by Kedro's config loader."""
    return project_config("parameters")["whisper_zh"]


def whisper_processor() -> WhisperProcessor:
    """The bundled Whisper processor, its tokenizer's prefix set for Mandarin transcription."""
    return with_prefix_tokens(WhisperProcessor.from_pretrained(PROCESSOR), "zh", "transcribe")


def add_model_choice(parser: argparse.ArgumentParser, reduced_help: str) -> None:
    """``--base FOLDER`` or ``--reduced`` (a random tiny model); neither: the pipeline's base."""
    models = parser.add_mutually_exclusive_group()
    models.add_argument(
        "--base",
        help=f"a Whisper model folder; default: the catalog's {PRETRAINED_MODEL} (whisper-base)",
    )
    models.add_argument("--reduced", action="store_true", help=reduced_help)


def pipeline_base_model() -> dict[str, Any]:
    """The model reference of the catalog entry ``whisper_zh.pretrained_model``, as ``kedro run`` loads it.

    The dataset loads in the project folder (its paths are relative to it), so
    with conf/base's entry whisper-base is converted into the folder that
    ``kedro run`` made and reuses, or made here for ``kedro run`` to reuse.
    """
    entry = project_config("catalog")[PRETRAINED_MODEL]
    with contextlib.chdir(PROJECT_ROOT):
        return DataCatalog.from_config({PRETRAINED_MODEL: entry}).load(PRETRAINED_MODEL)


def random_tiny_model(folder: Path, architecture: dict[str, Any]) -> dict[str, Any]:
    """The model reference of a random tiny Whisper of ``architecture`` (seed 0), built into ``folder``."""
    dataset = TinyRandomWhisperDataset(
        path=str(folder), processor=str(PROCESSOR), architecture=architecture, seed=0
    )
    return dataset.load()


def chosen_base_model(args: argparse.Namespace, tiny: Path, architecture: dict) -> dict[str, Any]:
    """The model reference ``--reduced`` / ``--base`` / neither chooses (``add_model_choice``)."""
    if args.reduced:
        return random_tiny_model(tiny, architecture)
    if args.base:
        return PretrainedModelDataset(name_or_path=args.base).load()
    return pipeline_base_model()


def test_clips(scratch: Path, times: int, processor: WhisperProcessor, window: dict) -> list:
    """Compact log-mel features of ``times`` x the bundled test split."""
    corpus = repeat_corpus(scratch / "corpus", times, ("test",))
    model = {"language": "zh", "task": "transcribe"}
    raw, _ = ingest_corpus(read_common_voice_release(corpus, ["test"]))
    pruned, _ = prune_columns(raw, ["audio", "sentence"])
    resampled, _ = resample_to_16k(pruned, {"sampling_rate": 16000}, window)
    features, _ = extract_features_and_labels(
        resampled, processor, model, {"max_label_tokens": 448}, window
    )
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
    add_model_choice(parser, "a random tiny Whisper, 5 s window (what the tests run)")
    parser.add_argument("--quantization", default="int8", choices=["none", "int8"])
    args = parser.parse_args()
    processor = whisper_processor()

    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        reference = chosen_base_model(args, scratch / "tiny", RANDOM_TINY_ARCHITECTURE)
        manifest = describe_base_model(
            reference,
            {
                **params["base_model"],
                "quantization": args.quantization,
                "window_seconds": args.window_seconds or None,
                "gradient_checkpointing": False,
            },
        )
        model = load_base_model(manifest)
        model.eval()
        window = input_window(model.config.max_source_positions, processor.feature_extractor)
        clips = test_clips(scratch, args.times, processor, window)

    options = DecodingOptions(
        language="zh",
        task="transcribe",
        max_new_tokens=args.max_new_tokens,
        tokens_per_second=args.tokens_per_second,
    )
    # Warm-up, untimed.
    transcribe_features(model, processor.tokenizer, clips[:2], options.replace(batch_size=2))

    started = time.perf_counter()
    one_by_one = transcribe_features(
        model, processor.tokenizer, clips, options.replace(batch_size=1)
    )
    single_seconds = time.perf_counter() - started
    started = time.perf_counter()
    batched = transcribe_features(
        model, processor.tokenizer, clips, options.replace(batch_size=args.batch_size)
    )
    batched_seconds = time.perf_counter() - started

    same = sum(a.text == b.text for a, b in zip(one_by_one, batched, strict=True))
    label = (
        "RANDOM-WEIGHT tiny Whisper (transcripts run to their token budget)"
        if args.reduced
        else args.base or reference["name_or_path"]
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
