"""Data stages of ``whisper_zh``: ingest -> prune -> resample to 16 kHz -> features and labels.

Every stage returns its dataset and a stage report of the rows it dropped, so
``data_quality.json`` accounts for every row of the corpus.
"""

from __future__ import annotations

import logging
import os
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from datasets import Array2D, Dataset, DatasetDict, Features, Sequence, Value
from datasets.fingerprint import Hasher
from transformers import AutoConfig, WhisperFeatureExtractor, WhisperProcessor

from peft_pipelines.data_quality import (
    DETAIL_COLUMN,
    ERROR_COLUMN,
    record_split,
    split_off_failures,
    stage_report,
    summarise_data_quality,
)
from peft_pipelines.speech.audio import UndecodableAudioError, decode_to_mono
from peft_pipelines.speech.collator import input_window
from peft_pipelines.speech.corpus import (
    read_common_voice_release,
    read_hf_audio_dataset,
    scratch_arrow_file,
)
from peft_pipelines.speech.features import compact_log_mel
from peft_pipelines.training.base_model import WHISPER_POSITIONS_PER_SECOND

logger = logging.getLogger(__name__)

OPENAI_WHISPER_POSITIONS = 1500  # 30 s: the encoder window of every OpenAI Whisper size
ROW_ID_COLUMN = (
    "path"  # kept through every stage so a dropped row can be named as in the corpus TSV
)


def ingest_corpus(corpus: dict[str, Any]) -> tuple[DatasetDict, dict[str, Any]]:
    """Read the configured corpus: every source column, audio as encoded bytes.

    ``corpus["source"]`` is ``common_voice_release`` (a folder ``corpus["dir"]``
    in the Common Voice release layout) or ``hf_datasets`` (anything
    ``datasets.load_dataset`` reads: a Hub id, or ``parquet`` with local files,
    configured under ``corpus["hf_datasets"]``). ``corpus["subset"]``, if set,
    keeps a seeded sample per split (the seed notebook's demo subset). Returns a ``DatasetDict`` of the
    configured splits (string columns plus binary ``audio``, about the size of
    the mp3 files) and the ingest stage report.
    """
    source = corpus["source"]
    if source == "common_voice_release":
        data, report = read_common_voice_release(
            corpus["dir"], list(corpus["splits"]), corpus.get("subset")
        )
    elif source == "hf_datasets":
        hub = corpus["hf_datasets"]
        data, report = read_hf_audio_dataset(
            hub["path"],
            splits=dict(hub["splits"]),
            audio_column=hub.get("audio_column", "audio"),
            text_column=hub.get("text_column", "sentence"),
            name=hub.get("name"),
            data_files=hub.get("data_files"),
            revision=hub.get("revision"),
        )
    else:
        raise ValueError(
            f"whisper_zh.corpus.source must be common_voice_release or hf_datasets, not {source!r}"
        )
    logger.info("Ingested %s", {split: len(rows) for split, rows in data.items()})
    return data, report


def prune_columns(
    corpus: DatasetDict, keep_columns: list[str]
) -> tuple[DatasetDict, dict[str, Any]]:
    """Keep ``keep_columns`` (the seed keeps ``audio`` and ``sentence``) plus the row id ``path``.

    Sentences are stripped of surrounding whitespace; rows whose sentence is
    then empty are dropped and reported (``blank_sentence``): no label, nothing
    to learn.
    """
    keep = list(dict.fromkeys([ROW_ID_COLUMN, *keep_columns]))
    report = stage_report("prune")
    pruned = {}
    for split, all_columns in corpus.items():
        missing = sorted(set(keep) - set(all_columns.column_names))
        if missing:
            raise ValueError(
                f"split {split} has no column(s) {missing}; it has {all_columns.column_names}"
            )
        rows = all_columns.select_columns(keep)
        sentences = [(s or "").strip() for s in rows["sentence"]]
        blank = [i for i, s in enumerate(sentences) if not s]
        dropped = [
            {"path": rows[i][ROW_ID_COLUMN], "reason": "blank_sentence", "detail": ""}
            for i in blank
        ]
        kept_rows = rows.remove_columns("sentence").add_column("sentence", sentences)
        if blank:
            blank_set = set(blank)
            kept_rows = kept_rows.select([i for i in range(len(rows)) if i not in blank_set])
        record_split(report, split, rows_in=len(rows), kept=len(kept_rows), dropped=dropped)
        pruned[split] = kept_rows
    return DatasetDict(pruned), report


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
    # without the start-up and pickling cost of worker processes (1.7x on 2 cores).
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


def read_input_window(base_model: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """The training input window (frames, samples, seconds): clips longer than it are dropped.

    ``base_model["window_seconds"]`` when set (the encoder's position table is
    cut to it when the base loads); otherwise the base's own window,
    ``2 x max_source_positions`` frames from its config (30 s for every OpenAI
    Whisper, whose CTranslate2 copy need not be converted yet to know it). Only
    a config is read, so the data stages can run before, and without, the weights.
    """
    extractor = WhisperFeatureExtractor.from_pretrained(
        model["processor"], revision=model.get("revision")
    )
    if base_model.get("window_seconds"):
        positions = round(float(base_model["window_seconds"]) * WHISPER_POSITIONS_PER_SECOND)
    elif base_model.get("init") == "random_tiny":
        positions = base_model["random_tiny"]["architecture"]["max_source_positions"]
    elif base_model.get("init") == "ctranslate2":
        positions = OPENAI_WHISPER_POSITIONS
    else:
        config = AutoConfig.from_pretrained(
            base_model.get("architecture_config") or base_model["name_or_path"],
            revision=base_model.get("revision"),
        )
        positions = config.max_source_positions
    window = input_window(positions, extractor)
    logger.info("Input window: %d frames = %g s", window["frames"], window["seconds"])
    return window


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


def load_whisper_processor(model: dict[str, Any]) -> WhisperProcessor:
    """The tokenizer and feature extractor named by ``model["processor"]`` (a folder or a Hub id).

    The tokenizer's prefix is set to ``<|startoftranscript|><|lang|><|task|><|notimestamps|>``.
    """
    processor = WhisperProcessor.from_pretrained(model["processor"], revision=model.get("revision"))
    processor.tokenizer.set_prefix_tokens(language=model["language"], task=model["task"])
    return processor


def extract_features_and_labels(
    corpus_16k: DatasetDict,
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
    processor = load_whisper_processor(model)
    n_mels = processor.feature_extractor.feature_size
    schema = Features(
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
    report = stage_report("features")
    # Left to itself, map fingerprints the transform by hashing every argument, the whole
    # tokenizer included (0.6 s per split). The processor's name and these settings
    # identify the transform as well.
    settings = {
        "processor": [model["processor"], model.get("revision"), model["language"], model["task"]],
        "max_label_tokens": int(features["max_label_tokens"]),
        "window_frames": int(window["frames"]),
    }
    featurised = {}
    for split, rows in corpus_16k.items():
        computed = rows.with_format("numpy", columns=["audio_16k"], output_all_columns=True).map(
            _features_batch,
            batched=True,
            batch_size=int(features.get("batch_size", 32)),
            writer_batch_size=int(features.get("batch_size", 32)),  # flat memory, as above
            num_proc=features.get("num_proc"),
            fn_kwargs={
                "processor": processor,
                "max_label_tokens": int(features["max_label_tokens"]),
                "window_frames": int(window["frames"]),
            },
            remove_columns=["audio_16k"],
            features=schema,
            new_fingerprint=Hasher.hash([rows._fingerprint, "log-mel + labels", settings]),
            cache_file_name=scratch_arrow_file(f"features-{split}"),
            load_from_cache_file=False,
            desc=f"log-mel + labels {split}",
        )
        featurised[split] = split_off_failures(split, computed.with_format(None), report)
    return DatasetDict(featurised), report


def report_data_quality(
    corpus: dict[str, Any],
    ingest: dict[str, Any],
    prune: dict[str, Any],
    resample: dict[str, Any],
    features: dict[str, Any],
) -> dict[str, Any]:
    """Merge the stage reports into ``data_quality.json``: counts per split and one entry per dropped row."""
    source = (
        corpus["dir"]
        if corpus["source"] == "common_voice_release"
        else corpus["hf_datasets"]["path"]
    )
    summary = summarise_data_quality(str(source), [ingest, prune, resample, features])
    for split, counts in summary["splits"].items():
        logger.info(
            "%s: %d rows in, %d kept, dropped %s",
            split,
            counts["rows_in"],
            counts["kept"],
            counts["dropped_by_reason"] or "none",
        )
    return summary


def join_long_utterances(corpus_16k: DatasetDict, long_utterances: dict[str, Any]) -> Dataset:
    """Recordings of several clips of one split joined end to end, for the long-utterance score.

    Clips are taken in a seeded order and appended to a recording until it
    holds at least ``min_seconds`` and ``min_clips`` clips; a clip that would take it past
    ``max_seconds`` or ``max_clips`` starts the next one. Leftover clips that
    make no whole recording are not used. Columns: ``paths`` (the clips, in
    order), ``sentence`` (their sentences joined), ``audio_16k``, ``duration_s``.
    """
    split = long_utterances.get("split", "test")
    rows = corpus_16k[split].with_format("numpy", columns=["audio_16k"], output_all_columns=True)
    order = list(range(len(rows)))
    random.Random(int(long_utterances.get("seed", 0))).shuffle(order)
    low, high = float(long_utterances["min_seconds"]), float(long_utterances["max_seconds"])
    fewest, most = int(long_utterances["min_clips"]), int(long_utterances["max_clips"])
    recordings: list[dict[str, Any]] = []
    current: list[int] = []
    seconds = 0.0
    for index in order:
        duration = float(rows[index]["duration_s"])
        if current and (seconds + duration > high or len(current) == most):
            current, seconds = [], 0.0
        current.append(index)
        seconds += duration
        if seconds >= low and len(current) >= fewest:
            recordings.append(_joined(rows, current))
            current, seconds = [], 0.0
    if not recordings:
        raise ValueError(
            f"the {split} split ({len(rows)} clips) makes no recording of {low:g}-{high:g} s "
            f"from {fewest}-{most} clips: change whisper_zh.long_utterances"
        )
    logger.info(
        "Long utterances: %d recordings of %s s from the %s split",
        len(recordings),
        [round(r["duration_s"], 1) for r in recordings],
        split,
    )
    return Dataset.from_list(recordings)


def _joined(rows: Dataset, indices: list[int]) -> dict[str, Any]:
    clips = [rows[i] for i in indices]
    audio = np.concatenate([np.asarray(c["audio_16k"], dtype=np.float32) for c in clips])
    return {
        "paths": [str(c[ROW_ID_COLUMN]) for c in clips],
        "sentence": "".join(str(c["sentence"]) for c in clips),
        "audio_16k": audio,
        "duration_s": float(sum(float(c["duration_s"]) for c in clips)),
    }
