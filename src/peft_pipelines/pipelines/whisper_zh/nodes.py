"""Nodes of ``whisper_zh``: a Common Voice corpus -> features (with the shared audio stages) -> CER/WER.

Every data stage returns its dataset and a stage report of the rows it
dropped, so ``data_quality.json`` accounts for every row of the corpus. The
model stages are the shared training core's; these nodes add what is
Whisper's own: its collator, its input window and its evaluation.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pandas as pd
from datasets import Dataset, DatasetDict
from peft import PeftModel
from transformers import WhisperProcessor

from peft_pipelines.data_quality import (
    ROW_ID_COLUMN,
    mark_failures,
    split_off_failures,
    stage_report,
    summarise_data_quality,
)
from peft_pipelines.errors import ConfigurationError
from peft_pipelines.io.base_model_manifest import BaseModelManifest
from peft_pipelines.io.common_voice import CorpusFormatError
from peft_pipelines.io.exported_models import CTranslate2Folder
from peft_pipelines.io.guard_recordings import GuardRecordings
from peft_pipelines.io.model_loading import (
    WHISPER_POSITIONS_PER_SECOND,
    load_base_model,
    load_processor,
    whisper_encoder_window,
)
from peft_pipelines.speech.collator import collator_for, input_window
from peft_pipelines.speech.ctranslate2_engine import load_ctranslate2_transcriber
from peft_pipelines.speech.decoding import DecodingOptions, Transcript
from peft_pipelines.speech.evaluation import transcribe_and_score
from peft_pipelines.speech.export_parity import (
    TranscriptParitySettings,
    compare_runs,
    parity_failures,
    timed_transcripts,
)
from peft_pipelines.speech.guard import (
    DEFAULT_GUARD_TOLERANCE,
    NO_GUARD,
    decode_guard,
    guard_report,
)
from peft_pipelines.speech.metrics import NORMALISER, character_error_rate
from peft_pipelines.speech.transcribe import (
    TransformersTranscriber,
    transcribe_features,
    transcribe_recordings,
)
from peft_pipelines.speech.vad import VadSettings, has_speech
from peft_pipelines.training.comparison import SIDES, warn_if_random_base
from peft_pipelines.training.lab import comparison, comparison_markdown
from peft_pipelines.training.nodes import base_model_fields, fit_adapter, report_provenance

logger = logging.getLogger(__name__)


def ingest_corpus(corpus_source: DatasetDict) -> tuple[DatasetDict, dict[str, Any]]:
    """The corpus as the catalog's ``corpus_source`` reads it, less the rows it marked unreadable.

    Every source column is kept, audio as encoded bytes. Rows with a malformed
    TSV line, a missing clip or a clip name leading outside the corpus's ``clips/``
    folder are dropped and reported.
    """
    report = stage_report("ingest")
    corpus = DatasetDict(
        {split: split_off_failures(split, rows, report) for split, rows in corpus_source.items()}
    )
    logger.info("Ingested %s", {split: len(rows) for split, rows in corpus.items()})
    return corpus, report


def prune_columns(
    corpus: DatasetDict, keep_columns: list[str]
) -> tuple[DatasetDict, dict[str, Any]]:
    """Keep ``keep_columns`` (the seed keeps ``audio`` and ``sentence``) plus the row id column.

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
            raise CorpusFormatError(
                f"split {split} has no column(s) {missing}; it has {all_columns.column_names}"
            )
        rows = all_columns.select_columns(keep)
        sentences = [(s or "").strip() for s in rows["sentence"]]
        marked = mark_failures(
            rows.remove_columns("sentence").add_column("sentence", sentences),
            ["" if s else "blank_sentence" for s in sentences],
            [""] * len(sentences),
        )
        pruned[split] = split_off_failures(split, marked, report)
    return DatasetDict(pruned), report


def read_input_window(base_model: dict[str, Any], processor: WhisperProcessor) -> dict[str, Any]:
    """The training input window (frames, samples, seconds): clips longer than it are dropped.

    ``base_model["window_seconds"]``: the encoder's position table is cut to it
    when the base loads (30 s is the whole window of every OpenAI Whisper).
    """
    seconds = base_model.get("window_seconds")
    if not seconds:
        raise ConfigurationError(
            "whisper_zh.base_model.window_seconds must be set: the training input window in "
            "seconds (30 is the whole window of every OpenAI Whisper)"
        )
    positions = round(float(seconds) * WHISPER_POSITIONS_PER_SECOND)
    window = input_window(positions, processor.feature_extractor)
    logger.info("Input window: %d frames = %g s", window["frames"], window["seconds"])
    return window


def report_data_quality(
    ingest: dict[str, Any],
    prune: dict[str, Any],
    resample: dict[str, Any],
    features: dict[str, Any],
) -> dict[str, Any]:
    """Merge the stage reports into ``data_quality.json``: counts per split and one entry per dropped row."""
    summary = summarise_data_quality([ingest, prune, resample, features])
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

    Clips are taken in a seeded order (``Dataset.shuffle(seed=)``) and appended to a recording until it
    holds at least ``min_seconds`` and ``min_clips`` clips; a clip that would take it past
    ``max_seconds`` or ``max_clips`` starts the next one. Leftover clips that
    make no whole recording are not used. Columns: ``clips`` (their row ids, in
    order), ``sentence`` (their sentences joined), ``audio_16k``, ``duration_s``.
    """
    split = long_utterances.get("split", "test")
    # In memory: a shuffle of a dataset read from disk would write its indices beside it.
    rows = (
        corpus_16k[split]
        .shuffle(seed=int(long_utterances.get("seed", 0)), keep_in_memory=True)
        .with_format("numpy", columns=["audio_16k"], output_all_columns=True)
    )
    low, high = float(long_utterances["min_seconds"]), float(long_utterances["max_seconds"])
    fewest, most = int(long_utterances["min_clips"]), int(long_utterances["max_clips"])
    recordings: list[dict[str, Any]] = []
    current: list[int] = []
    seconds = 0.0
    for index in range(len(rows)):
        duration = float(rows[index]["duration_s"])
        if current and (seconds + duration > high or len(current) == most):
            current, seconds = [], 0.0
        current.append(index)
        seconds += duration
        if seconds >= low and len(current) >= fewest:
            recordings.append(_joined(rows, current))
            current, seconds = [], 0.0
    if not recordings:
        raise ConfigurationError(
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
        "clips": [str(c[ROW_ID_COLUMN]) for c in clips],
        "sentence": "".join(str(c["sentence"]) for c in clips),
        "audio_16k": audio,
        "duration_s": float(sum(float(c["duration_s"]) for c in clips)),
    }


def train_adapter(
    peft_model: PeftModel,
    base_model_manifest: BaseModelManifest,
    features: DatasetDict,
    training: dict[str, Any],
    peft: dict[str, Any],
) -> tuple[PeftModel, dict[str, Any]]:
    """Fit the adapter on ``features["train"]``, evaluating on ``features["dev"]``, with ``Seq2SeqTrainer``.

    Returns the trained adapter and the training log (Trainer log history:
    loss per logging step, eval loss per evaluation); see :func:`fit_adapter`.
    """
    columns = ["log_mel", "labels"]
    return fit_adapter(
        peft_model,
        base_model_manifest,
        features["train"].select_columns(columns),
        features["dev"].select_columns(columns) if "dev" in features else None,
        collator_for(peft_model.get_base_model().config),
        training=training,
        peft=peft,
        seq2seq=True,
    )


def evaluate_transcription(  # noqa: PLR0917 (a Kedro node: inputs arrive by position)
    adapter: PeftModel,
    base_model_manifest: BaseModelManifest,
    features: DatasetDict,
    corpus_16k: DatasetDict,
    long_utterances: Dataset,
    guard_recordings: GuardRecordings | None,
    processor: WhisperProcessor,
    model: dict[str, Any],
    evaluation: dict[str, Any],
    peft: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """CER and WER of the base (adapter disabled) and the fine-tuned model on the same audio.

    Three sets, through one loop (:func:`transcribe_and_score`): the clips of
    ``evaluation["split"]`` (batched greedy decoding in the training window,
    as the seed evaluated); ``long_utterances`` (several clips joined) and the
    guard recordings, if set (:func:`_score_guard`), each transcribed as a file
    is, in the model's full window (:func:`transcribe_recordings`). The voice activity detector
    (``evaluation["vad"]``, null: off) hears each clip's 16 kHz audio
    (``corpus_16k``): a clip without speech is not decoded and is scored as "";
    a clip with speech is decoded whole, as the model was trained on it. Of a
    long utterance only the speech is decoded. Both sides normalised (see
    :data:`peft_pipelines.speech.metrics.NORMALISER`); error rates are unclipped
    fractions. Returns the metrics report with its provenance and the per-clip
    predictions table (raw texts).
    """
    split_name = evaluation.get("split", "test")
    split = features[split_name]
    if evaluation.get("max_clips"):
        split = split.select(range(min(len(split), int(evaluation["max_clips"]))))
    options = DecodingOptions.from_parameters(model, evaluation)
    adapter.eval()
    speech = _clips_with_speech(corpus_16k[split_name], list(split[ROW_ID_COLUMN]), options.vad)
    clips = [np.asarray(m) for m in split["log_mel"]]
    clip_scores, clip_texts = transcribe_and_score(
        adapter,
        list(split["sentence"]),
        lambda: transcribe_features(adapter, processor.tokenizer, clips, options, speech=speech),
    )
    long_scores, long_texts = _score_long_utterances(adapter, processor, long_utterances, options)
    guard, guard_rows = _score_guard(adapter, processor, guard_recordings, options, evaluation)
    metrics = {
        **clip_scores,
        "long_utterances": long_scores,
        "guard": guard,
        "window_seconds": {
            "clips": base_model_manifest.window_seconds,
            "long_utterances": "full",
        },
        "normaliser": NORMALISER,
        **report_provenance(base_model_manifest, peft, split_name, evaluation.get("seed")),
    }
    warn_if_random_base(base_model_manifest)
    _log_figures(metrics, len(split), len(long_utterances))
    table = _predictions_table(split_name, split, long_utterances, clip_texts, long_texts)
    return metrics, pd.concat([table, guard_rows], ignore_index=True) if len(guard_rows) else table


def _log_figures(metrics: dict[str, Any], n_clips: int, n_long: int) -> None:
    long = metrics["long_utterances"]
    logger.info(
        "CER base %.3f -> fine-tuned %.3f on %d clips; long utterances %.3f -> %.3f on %d",
        metrics["base"]["cer"],
        metrics["finetuned"]["cer"],
        n_clips,
        long["base"]["cer"],
        long["finetuned"]["cer"],
        n_long,
    )


def _score_long_utterances(
    adapter: PeftModel,
    processor: WhisperProcessor,
    long_utterances: Dataset,
    options: DecodingOptions,
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Scores (with each recording's seconds) and texts of both sides on the joined recordings."""
    scores, texts = _score_recordings(
        adapter,
        processor,
        long_utterances.with_format("numpy", columns=["audio_16k"])["audio_16k"],
        list(long_utterances["sentence"]),
        options,
    )
    seconds = [round(float(d), 2) for d in long_utterances["duration_s"]]
    return {side: {**figures, "seconds": seconds} for side, figures in scores.items()}, texts


def _score_recordings(
    adapter: PeftModel,
    processor: WhisperProcessor,
    audio: list[np.ndarray],
    references: list[str],
    options: DecodingOptions,
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Scores and texts of both sides on 16 kHz recordings of any length, decoded as a file is, in the model's full window."""
    recordings = [np.asarray(samples, dtype=np.float32) for samples in audio]

    def transcribe_whole_window() -> list[Transcript]:
        with whisper_encoder_window(adapter, None):
            return transcribe_recordings(adapter, processor, recordings, options)

    return transcribe_and_score(adapter, references, transcribe_whole_window)


def _score_guard(
    adapter: PeftModel,
    processor: WhisperProcessor,
    guard: GuardRecordings | None,
    options: DecodingOptions,
    evaluation: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """``metrics["guard"]`` (:func:`guard_report`; :data:`NO_GUARD` if none is set) and its prediction rows (set ``guard``).

    Every usable recording is decoded whole as the long utterances are; an
    entry that cannot be used is dropped, counted by reason and logged.
    """
    if guard is None:
        logger.info("Guard: none set (--params guard_dir=<folder> sets one)")
        return dict(NO_GUARD), _prediction_rows("guard", [], [], {side: [] for side in SIDES})
    decoded = decode_guard(guard, processor.feature_extractor.sampling_rate)
    scores, texts = None, {side: [] for side in SIDES}
    if decoded.recordings:
        scores, texts = _score_recordings(
            adapter, processor, decoded.recordings, decoded.references, options
        )
    tolerance = float(evaluation.get("guard_tolerance", DEFAULT_GUARD_TOLERANCE))
    report = guard_report(guard, decoded, scores, tolerance)
    for row in decoded.dropped:
        logger.warning("Guard entry dropped (%s): %s", row["reason"], row["detail"])
    if scores is not None:
        logger.info(
            "Guard (%d recordings of %s): CER base %.3f -> fine-tuned %.3f (%s)",
            len(decoded.recordings),
            guard.folder,
            scores["base"]["cer"],
            scores["finetuned"]["cer"],
            report["verdict"],
        )
    return report, _prediction_rows("guard", decoded.utt_ids, decoded.references, texts)


def _predictions_table(
    split_name: str,
    split: Dataset,
    long_utterances: Dataset,
    clip_texts: dict[str, list[str]],
    long_texts: dict[str, list[str]],
) -> pd.DataFrame:
    """One row per clip, then per long utterance: reference, both raw transcripts, both CERs."""
    return _prediction_rows(
        [split_name] * len(split) + ["long_utterances"] * len(long_utterances),
        list(split[ROW_ID_COLUMN]) + [" + ".join(ids) for ids in long_utterances["clips"]],
        list(split["sentence"]) + list(long_utterances["sentence"]),
        {side: clip_texts[side] + long_texts[side] for side in SIDES},
    )


def _prediction_rows(
    set_names: str | list[str],
    row_ids: list[str],
    references: list[str],
    texts: dict[str, list[str]],
) -> pd.DataFrame:
    """Rows of ``predictions.csv``: set, row id, reference, both raw transcripts, both CERs."""
    table = pd.DataFrame(
        {
            "set": [set_names] * len(row_ids) if isinstance(set_names, str) else set_names,
            ROW_ID_COLUMN: row_ids,
            "reference": references,
            **{f"{side}_prediction": texts[side] for side in SIDES},
        }
    )
    for side in SIDES:
        table[f"{side}_cer"] = [
            character_error_rate([r], [p])
            for r, p in zip(table["reference"], table[f"{side}_prediction"], strict=True)
        ]
    return table


def _clips_with_speech(
    corpus_16k: Dataset, row_ids: list[str], vad: VadSettings | None
) -> list[bool] | None:
    """Whether the detector hears speech in each clip (by row id); None when it is off."""
    if vad is None:
        return None
    position = {row_id: i for i, row_id in enumerate(corpus_16k[ROW_ID_COLUMN])}
    audio = corpus_16k.select([position[row_id] for row_id in row_ids]).with_format(
        "numpy", columns=["audio_16k"]
    )
    return has_speech((row["audio_16k"] for row in audio), vad)


def check_export_parity(  # noqa: PLR0917 (a Kedro node: inputs arrive by position)
    merged_model: BaseModelManifest,
    ctranslate2_model: CTranslate2Folder,
    base_model_manifest: BaseModelManifest,
    corpus_16k: DatasetDict,
    long_utterances: Dataset,
    model: dict[str, Any],
    evaluation: dict[str, Any],
    export: dict[str, Any],
) -> dict[str, Any]:
    """The CTranslate2 export against the merged float model it was converted from: CER, speed, agreement.

    The clips of ``evaluation["split"]`` in the training window (each engine
    as it serves them: our CTranslate2 engine fits its window to each batch,
    never below the training window), then the long recordings (the merged
    model in its full window). Decoded as the evaluation decodes, without the
    voice activity detector: both engines hear the same audio. The report
    says whether the export passes (:func:`parity_failures`);
    ``require_export_parity`` stops the run after it is written if not.
    """
    settings = TranscriptParitySettings.from_params(export)
    options = dataclasses.replace(DecodingOptions.from_parameters(model, evaluation), vad=None)
    clips = _parity_clips(corpus_16k, evaluation)
    recordings = long_utterances.with_format("numpy", columns=["audio_16k"])["audio_16k"]
    merged = TransformersTranscriber(load_base_model(merged_model), load_processor(merged_model))
    exported = load_ctranslate2_transcriber(
        ctranslate2_model,
        min_window_seconds=base_model_manifest.window_seconds,
        compute_type="default",  # the export's own weight type
    )
    with whisper_encoder_window(merged.model, base_model_manifest.window_seconds):
        merged_clips = timed_transcripts(merged, clips["audio_16k"], options)
    clip_figures = compare_runs(
        list(clips["sentence"]),
        merged_clips,
        timed_transcripts(exported, clips["audio_16k"], options),
    )
    recording_figures = compare_runs(
        list(long_utterances["sentence"]),
        timed_transcripts(merged, list(recordings), options),
        timed_transcripts(exported, list(recordings), options),
    )
    failures = parity_failures(
        clip_figures, recording_figures, ctranslate2_model.quantization, settings
    )
    _log_parity(clip_figures, ctranslate2_model.quantization)
    return {
        "passed": not failures,
        "failures": [f"the CTranslate2 export at {ctranslate2_model}: {line}" for line in failures],
        "quantization": ctranslate2_model.quantization,
        "clips": clip_figures,
        "long_utterances": recording_figures,
        **dataclasses.asdict(settings),
        **base_model_fields(base_model_manifest),
    }


def _parity_clips(corpus_16k: DatasetDict, evaluation: dict[str, Any]) -> Dataset:
    """The evaluation's clips (``split``, the first ``max_clips``), audio as arrays."""
    clips = corpus_16k[evaluation.get("split", "test")]
    if evaluation.get("max_clips"):
        clips = clips.select(range(min(len(clips), int(evaluation["max_clips"]))))
    return clips.with_format("numpy", columns=["audio_16k"], output_all_columns=True)


def _log_parity(clips: dict[str, Any], quantization: str) -> None:
    logger.info(
        "Export (CTranslate2 %s) on %d clips: CER merged %.3f, CTranslate2 %.3f; "
        "%d identical transcripts; clips/s merged %.2f, CTranslate2 %.2f",
        quantization,
        clips["n"],
        clips["cer"]["merged"],
        clips["cer"]["ctranslate2"],
        clips["identical"],
        clips["clips_per_second"]["merged"],
        clips["clips_per_second"]["ctranslate2"],
    )


def lab_figures(metrics: dict[str, Any], side: str) -> dict[str, float | None]:
    """One side's figures a lab compares: CER and WER of the test clips, of the long utterances, of the guard set.

    The guard's are None when the run had no guard recordings.
    """
    long = metrics.get("long_utterances", {}).get(side, {})
    guard = metrics.get("guard")
    guard_side = guard.get(side) if isinstance(guard, dict) else None
    guard_side = guard_side if isinstance(guard_side, dict) else {}
    return {
        "test_cer": metrics[side]["cer"],
        "test_wer": metrics[side]["wer"],
        "long_cer": long.get("cer"),
        "long_wer": long.get("wer"),
        "guard_cer": guard_side.get("cer"),
        "guard_wer": guard_side.get("wer"),
    }


def compare_variants(*reports: Any, variants: list[str]) -> tuple[dict[str, Any], str]:
    """The lab's comparison of its variants (``comparison.json``) and the same as a Markdown table.

    ``reports``: per variant, its ``peft``, ``training``, ``peft_summary``,
    ``training_log`` and ``metrics`` (see :func:`peft_pipelines.training.lab.comparison`).
    """
    table = comparison("whisper_zh", list(variants), list(reports), lab_figures)
    return table, comparison_markdown(table)
