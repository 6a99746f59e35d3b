"""Node functions of the shared audio-features sub-pipeline: clips to 16 kHz, then log-mel features and labels.

Every stage returns its dataset and a stage report of the rows it dropped
(:mod:`peft_pipelines.data_quality`), so a corpus's ``data_quality.json``
accounts for every row. Wired by :mod:`peft_pipelines.speech.pipeline`.
"""

from __future__ import annotations

import copy
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from datasets import Array2D, Dataset, DatasetDict, Features, Sequence, Value
from datasets.fingerprint import fingerprint_transform
from transformers import WhisperProcessor

from peft_pipelines.data_quality import (
    DETAIL_COLUMN,
    ERROR_COLUMN,
    ROW_ID_COLUMN,
    split_off_failures,
    stage_report,
)
from peft_pipelines.io.atomic_arrow_dataset import scratch_arrow_file
from peft_pipelines.speech.audio import UndecodableAudioError, decode_to_mono
from peft_pipelines.speech.features import compact_log_mel


def with_prefix_tokens(processor: WhisperProcessor, language: str, task: str) -> WhisperProcessor:
    """A copy of ``processor`` whose tokenizer prefixes ``<|startoftranscript|><|lang|><|task|><|notimestamps|>``."""
    prefixed = copy.deepcopy(processor)
    prefixed.tokenizer.set_prefix_tokens(language=language, task=task)
    return prefixed


def _decode_clip(
    data: bytes, sampling_rate: int, max_seconds: float
) -> tuple[np.ndarray, str, str]:
    """One clip's samples at ``sampling_rate``, or no samples and why it is dropped."""
    try:
        samples = decode_to_mono(data, sampling_rate)
    except UndecodableAudioError as error:
        return np.zeros(0, np.float32), "undecodable_audio", str(error)[:300]
    seconds = len(samples) / sampling_rate
    if seconds > max_seconds:
        detail = f"{seconds:.2f} s > the model's {max_seconds:g} s window"
        return np.zeros(0, np.float32), "audio_too_long", detail
    return samples, "", ""


def _decode_batch(
    batch: dict[str, list], sampling_rate: int, max_seconds: float, threads: int
) -> dict[str, list]:
    # libsndfile and soxr release the GIL, so threads decode clips on every core
    # without the start-up and pickling cost of worker processes (docs/performance.md).
    with ThreadPoolExecutor(max_workers=threads) as pool:
        decoded = list(
            pool.map(lambda data: _decode_clip(data, sampling_rate, max_seconds), batch["audio"])
        )
    return {
        "audio_16k": [samples for samples, _, _ in decoded],
        "duration_s": [len(samples) / sampling_rate for samples, _, _ in decoded],
        ERROR_COLUMN: [reason for _, reason, _ in decoded],
        DETAIL_COLUMN: [detail for _, _, detail in decoded],
    }


def resample_to_16k(
    corpus: DatasetDict, audio: dict[str, Any], window: dict[str, Any]
) -> tuple[DatasetDict, dict[str, Any]]:
    """Decode each clip once and resample it to ``audio["sampling_rate"]`` (16 kHz) mono float32.

    Replaces ``audio`` (bytes) with ``audio_16k`` (float32 samples, 64 kB per
    second) and adds ``duration_s``. Drops and reports clips that do not decode
    (``undecodable_audio``) and clips longer than the model's input window
    ``window["seconds"]`` (``audio_too_long``: the model hears only its
    window, so the label would not match).
    """
    rate, max_seconds = int(audio["sampling_rate"]), float(window["seconds"])
    threads = int(audio.get("decode_threads") or os.cpu_count() or 1)
    features = Features(
        {
            ROW_ID_COLUMN: Value("string"),
            "sentence": Value("string"),
            "audio_16k": Sequence(Value("float32")),
            "duration_s": Value("float32"),
            ERROR_COLUMN: Value("string"),
            DETAIL_COLUMN: Value("string"),
        }
    )
    report = stage_report("resample")
    resampled = {}
    for split, rows in corpus.items():
        decoded = rows.map(
            _decode_batch,
            batched=True,
            batch_size=int(audio.get("batch_size", 32)),
            # map buffers writer_batch_size rows (1000 by default) before writing; a batch at a
            # time keeps memory flat however large the corpus is (benchmarks/data_stages_memory.py).
            writer_batch_size=int(audio.get("batch_size", 32)),
            num_proc=audio.get("num_proc"),
            fn_kwargs={"sampling_rate": rate, "max_seconds": max_seconds, "threads": threads},
            remove_columns=[c for c in rows.column_names if c not in (ROW_ID_COLUMN, "sentence")],
            features=features,
            cache_file_name=scratch_arrow_file(f"resample-{split}"),
            load_from_cache_file=False,
            desc=f"resample {split} to {rate} Hz",
        )
        resampled[split] = split_off_failures(split, decoded, report)
    return DatasetDict(resampled), report


def _features_batch(
    batch: dict[str, Any], processor: WhisperProcessor, max_label_tokens: int, window_frames: int
) -> dict[str, list]:
    # A clip exactly as long as the window has two more frames that see its last
    # samples; the encoder takes window_frames, as the extractor's own output.
    log_mel = [
        frames[:window_frames]
        for frames in compact_log_mel(batch["audio_16k"], processor.feature_extractor)
    ]
    labels = processor.tokenizer([str(s) for s in batch["sentence"]]).input_ids
    reasons = ["label_too_long" if len(ids) > max_label_tokens else "" for ids in labels]
    details = [
        f"{len(ids)} tokens > {max_label_tokens}" if reason else ""
        for ids, reason in zip(labels, reasons, strict=True)
    ]
    return {
        "log_mel": log_mel,
        "n_frames": [m.shape[0] for m in log_mel],
        "labels": labels,
        ERROR_COLUMN: reasons,
        DETAIL_COLUMN: details,
    }


def _features_schema(n_mels: int) -> Features:
    return Features(
        {
            ROW_ID_COLUMN: Value("string"),
            "sentence": Value("string"),
            "duration_s": Value("float32"),
            "log_mel": Array2D(shape=(None, n_mels), dtype="float16"),
            "n_frames": Value("int32"),
            "labels": Sequence(Value("int32")),
            ERROR_COLUMN: Value("string"),
            DETAIL_COLUMN: Value("string"),
        }
    )


# Left to itself, map fingerprints the transform by hashing every argument, the whole
# tokenizer included (0.6 s per split). datasets' fingerprint_transform derives the
# output's fingerprint from the input's and the arguments it is not told to ignore:
# ``settings`` names the processor and what shapes the output, which identifies the
# transform as well; the processor itself and the batching (no effect on the output) are
# left out.
@fingerprint_transform(inplace=False, ignore_kwargs=["processor", "batching"])
def _featurise_split(
    rows: Dataset,
    processor: WhisperProcessor,
    settings: dict[str, Any],
    batching: dict[str, Any],
    *,
    split: str,
    new_fingerprint: str | None = None,
) -> Dataset:
    """One split's log-mel features and labels (failures still in, marked by ``ERROR_COLUMN``)."""
    computed = rows.with_format("numpy", columns=["audio_16k"], output_all_columns=True).map(
        _features_batch,
        batched=True,
        batch_size=batching["batch_size"],
        writer_batch_size=batching["batch_size"],  # flat memory, as in resample_to_16k
        num_proc=batching["num_proc"],
        fn_kwargs={
            "processor": processor,
            "max_label_tokens": settings["max_label_tokens"],
            "window_frames": settings["window_frames"],
        },
        remove_columns=["audio_16k"],
        features=_features_schema(processor.feature_extractor.feature_size),
        new_fingerprint=new_fingerprint,
        cache_file_name=scratch_arrow_file(f"features-{split}"),
        load_from_cache_file=False,
        desc=f"log-mel + labels {split}",
    )
    return computed.with_format(None)


def extract_features_and_labels(
    corpus_16k: DatasetDict,
    processor: WhisperProcessor,
    model: dict[str, Any],
    features: dict[str, Any],
    window: dict[str, Any],
) -> tuple[DatasetDict, dict[str, Any]]:
    """Log-mel features and tokenized labels for every clip, ready for batching.

    Columns: ``path``, ``sentence``, ``duration_s``, ``log_mel`` (float16,
    ``n_frames x 80``, only the frames that see audio: about 16 kB per second
    of audio instead of the seed's 960 kB per clip, at most ``window["frames"]``),
    ``n_frames`` and ``labels``
    (token ids with Whisper's language/task prefix and end-of-text). Rows whose
    label exceeds ``features["max_label_tokens"]`` (Whisper's 448 decoder
    positions) are dropped and reported (``label_too_long``).
    """
    processor = with_prefix_tokens(processor, model["language"], model["task"])
    settings = {
        "processor": [processor.tokenizer.name_or_path, model["language"], model["task"]],
        "max_label_tokens": int(features["max_label_tokens"]),
        "window_frames": int(window["frames"]),
    }
    batching = {
        "batch_size": int(features.get("batch_size", 32)),
        "num_proc": features.get("num_proc"),
    }
    report = stage_report("features")
    featurised = {
        split: split_off_failures(
            split, _featurise_split(rows, processor, settings, batching, split=split), report
        )
        for split, rows in corpus_16k.items()
    }
    return DatasetDict(featurised), report
