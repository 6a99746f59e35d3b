"""Each data stage on small inputs, and every kind of bad row it must drop and report."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from datasets import Audio, Dataset
from transformers import WhisperProcessor

from peft_pipelines.io.common_voice import (
    COMMON_VOICE_COLUMNS,
    CommonVoiceReleaseDataset,
    CorpusNotFoundError,
    HFAudioCorpusDataset,
    read_common_voice_release,
)
from peft_pipelines.pipelines.whisper_zh.nodes import (
    ingest_corpus,
    prune_columns,
    read_input_window,
    report_data_quality,
)
from peft_pipelines.speech.nodes import extract_features_and_labels, resample_to_16k
from tests.support import BAD_TRAIN_ROWS, read_tsv

SPLITS = ["train", "dev", "test"]
AUDIO = {"sampling_rate": 16000, "batch_size": 8}
FEATURES = {"max_label_tokens": 448, "batch_size": 8}


MODEL = {"language": "zh", "task": "transcribe"}


@pytest.fixture(scope="module")
def processor(processor_dir) -> WhisperProcessor:
    return WhisperProcessor.from_pretrained(processor_dir)


@pytest.fixture(scope="module")
def window_30s(processor) -> dict:
    """Real Whisper's whole window (conf/full's window_seconds)."""
    return read_input_window({"window_seconds": 30}, processor)


@pytest.fixture(scope="module")
def stages(small_corpus, processor, window_30s) -> dict:
    """Every data stage run once over the small corpus with its planted bad rows."""
    raw, ingest = ingest_corpus(CommonVoiceReleaseDataset(path=str(small_corpus)).load())
    pruned, prune = prune_columns(raw, ["audio", "sentence"])
    resampled, resample = resample_to_16k(pruned, AUDIO, window_30s)
    features, featurise = extract_features_and_labels(
        resampled, processor, MODEL, FEATURES, window_30s
    )
    quality = report_data_quality(ingest, prune, resample, featurise)
    return {
        "raw": raw,
        "pruned": pruned,
        "resampled": resampled,
        "features": features,
        "reports": {"ingest": ingest, "prune": prune, "resample": resample, "features": featurise},
        "quality": quality,
    }


def test_ingest_keeps_every_common_voice_column_and_the_encoded_clip(stages, bundled_corpus):
    raw = stages["raw"]["dev"]
    assert raw.column_names == [*COMMON_VOICE_COLUMNS, "audio"]
    first = raw[0]
    assert first["audio"] == (bundled_corpus / "clips" / first["path"]).read_bytes()


def test_prune_keeps_audio_sentence_and_the_row_id(stages):
    assert sorted(stages["pruned"]["train"].column_names) == ["audio", "path", "sentence"]


@pytest.mark.parametrize(("path", "reason"), sorted(BAD_TRAIN_ROWS.items()))
def test_each_bad_row_is_dropped_and_reported_with_its_reason(stages, path, reason):
    entries = [d for d in stages["quality"]["dropped"] if d["path"] == path]
    assert [(e["split"], e["reason"]) for e in entries] == [("train", reason)]
    assert path not in stages["features"]["train"]["path"]


def test_good_rows_survive_every_stage_and_counts_add_up(stages):
    splits = stages["quality"]["splits"]
    assert splits["train"] == {
        "rows_in": 4 + len(BAD_TRAIN_ROWS),
        "kept": 4,
        "dropped": len(BAD_TRAIN_ROWS),
        "dropped_by_reason": dict(Counter(BAD_TRAIN_ROWS.values())),
    }
    assert splits["dev"]["kept"] == splits["test"]["kept"] == 2
    assert [len(stages["features"][s]) for s in ("train", "dev", "test")] == [4, 2, 2]


def test_resample_produces_16k_mono_float32_with_its_duration(stages):
    row = stages["resampled"]["dev"].with_format("numpy")[0]
    assert row["audio_16k"].dtype == np.float32
    assert row["duration_s"] == pytest.approx(len(row["audio_16k"]) / 16000, rel=1e-5)


def test_labels_carry_the_zh_transcribe_prefix_and_end_of_text(stages, processor):
    tokenizer = processor.tokenizer
    row = stages["features"]["test"][0]
    assert row["labels"][:4] == [
        50258,
        50260,
        50359,
        50363,
    ]  # <|startoftranscript|><|zh|><|transcribe|><|notimestamps|>
    assert row["labels"][-1] == 50257  # <|endoftext|>
    assert tokenizer.decode(row["labels"], skip_special_tokens=True) == row["sentence"]


def test_features_are_compact_float16_frames(stages):
    features = stages["features"]["dev"]
    assert features.features["log_mel"].dtype == "float16"
    assert (
        str(features.data.column("log_mel").chunk(0).storage.type)
        == "list<item: list<item: halffloat>>"
    )
    row = features.with_format("numpy")[0]  # datasets widens float16 to float32 when formatting
    assert row["log_mel"].shape == (row["n_frames"], 80)
    assert row["n_frames"] < 3000


def test_a_window_must_be_set(processor):
    assert read_input_window({"window_seconds": 5}, processor)["frames"] == 500
    with pytest.raises(ValueError, match="window_seconds must be set"):
        read_input_window({"window_seconds": None}, processor)


def test_clip_paths_leading_out_of_clips_are_refused_before_anything_is_read(
    small_corpus, monkeypatch
):
    read = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self) or original(self))
    source = CommonVoiceReleaseDataset(path=str(small_corpus), splits=["train"]).load()
    outside = [p for p, r in BAD_TRAIN_ROWS.items() if r == "path_outside_corpus"]
    marked = dict(zip(source["train"]["path"], source["train"]["_drop_reason"], strict=True))
    assert {p: marked[p] for p in outside} == dict.fromkeys(outside, "path_outside_corpus")
    clips = (small_corpus / "clips").resolve()
    read_clips = [path for path in read if path.suffix != ".tsv"]  # the split file itself is read
    assert read_clips and all(path.resolve().is_relative_to(clips) for path in read_clips)


def test_missing_corpus_folder_raises_one_line_naming_the_path_and_the_setting(tmp_path):
    missing = tmp_path / "no_such_corpus"
    for attempt in (
        CommonVoiceReleaseDataset(path=str(missing)).preflight,
        lambda: read_common_voice_release(missing, SPLITS),
    ):
        with pytest.raises(CorpusNotFoundError) as error:
            attempt()
        message = str(error.value)
        assert "\n" not in message
        assert str(missing) in message and "corpus_dir" in message


def test_seeded_subset_is_reproducible_and_sized(bundled_corpus):
    dataset = CommonVoiceReleaseDataset(
        path=str(bundled_corpus), splits=["train"], subset={"seed": 16, "rows": {"train": 5}}
    )
    first, report = ingest_corpus(dataset.load())
    second, _ = ingest_corpus(dataset.load())
    assert first["train"]["path"] == second["train"]["path"]
    assert len(first["train"]) == 5 and report["rows_in"]["train"] == 5
    assert set(first["train"]["path"]) < {r["path"] for r in read_tsv(bundled_corpus / "train.tsv")}


def test_hf_datasets_source_reads_a_local_parquet_through_the_same_loader(
    tmp_path, bundled_corpus, processor, window_30s
):
    rows = read_tsv(bundled_corpus / "test.tsv")[:3]
    table = Dataset.from_dict(
        {
            "audio": [str(bundled_corpus / "clips" / r["path"]) for r in rows],
            "transcription": [r["sentence"] for r in rows],
        }
    ).cast_column("audio", Audio(decode=False))
    # Embed the bytes, as a Hub parquet export does, then forget the source files.
    table = table.map(
        lambda row: {
            "audio": {
                "bytes": open(row["audio"]["path"], "rb").read(),
                "path": row["audio"]["path"],
            }
        }
    )
    table.to_parquet(str(tmp_path / "test.parquet"))
    source = HFAudioCorpusDataset(
        dataset_name="parquet",
        splits={"test": "test"},
        load_args={
            "data_files": {"test": str(tmp_path / "test.parquet")},
            "text_column": "transcription",
        },
    )
    raw, report = ingest_corpus(source.load())
    assert raw["test"]["path"] == [r["path"] for r in rows]
    assert raw["test"]["sentence"] == [r["sentence"] for r in rows]
    assert raw["test"][0]["audio"] == (bundled_corpus / "clips" / rows[0]["path"]).read_bytes()
    assert report["rows_out"] == {"test": 3}
    pruned, _ = prune_columns(raw, ["audio", "sentence"])
    features, _ = extract_features_and_labels(
        resample_to_16k(pruned, AUDIO, window_30s)[0], processor, MODEL, FEATURES, window_30s
    )
    assert len(features["test"]) == 3
