"""The whisper_zh data stages run the way a user runs them: a Kedro session, and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from datasets import load_from_disk

from peft_pipelines.hooks import UnreadableInputError
from tests.scratch_project import kedro_cli, run_pipeline
from tests.support import read_tsv

pytestmark = pytest.mark.slow

FEATURES = Path("data/04_feature/whisper_zh/features")
QUALITY = Path("data/08_reporting/whisper_zh/data_quality.json")


DATA_STAGES_END = [
    "whisper_zh.report_data_quality",
    "whisper_zh.audio_features.extract_features_and_labels",
]


def test_data_stages_run_end_to_end_on_the_bundled_corpus_then_rerun_one_stage(
    scratch_project, bundled_corpus
):
    run_pipeline(scratch_project, "whisper_zh", to_nodes=DATA_STAGES_END)

    features = load_from_disk(str(scratch_project / FEATURES))
    expected = {
        split: len(read_tsv(bundled_corpus / f"{split}.tsv")) for split in ("train", "dev", "test")
    }
    assert {split: len(rows) for split, rows in features.items()} == expected
    quality = json.loads((scratch_project / QUALITY).read_text())
    assert quality["dropped"] == []
    assert {s: c["kept"] for s, c in quality["splits"].items()} == expected
    for stage in ("ingest", "prune", "resample", "features"):
        assert (scratch_project / f"data/08_reporting/whisper_zh/stages/{stage}.json").is_file()

    # The README's rerun-one-stage command, from the persisted upstream outputs.
    before = (scratch_project / FEATURES / "dataset_dict.json").stat().st_mtime_ns
    (scratch_project / "data/02_intermediate/whisper_zh/corpus_raw").rename(
        scratch_project / "corpus_raw_moved_away"
    )
    result = kedro_cli(
        scratch_project,
        "run",
        "--pipelines=whisper_zh",
        "--from-nodes=whisper_zh.audio_features.resample_to_16k",
        "--to-nodes=whisper_zh.audio_features.extract_features_and_labels",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Completed 2 out of 2 tasks" in result.stdout + result.stderr
    assert (scratch_project / FEATURES / "dataset_dict.json").stat().st_mtime_ns > before
    assert len(load_from_disk(str(scratch_project / FEATURES))["train"]) == expected["train"]


def test_bad_rows_of_a_corpus_given_on_the_command_line_end_up_in_data_quality_json(
    scratch_project, small_corpus, bad_train_rows
):
    run_pipeline(
        scratch_project, "whisper_zh", {"corpus_dir": str(small_corpus)}, to_nodes=DATA_STAGES_END
    )
    quality = json.loads((scratch_project / QUALITY).read_text(encoding="utf-8"))
    assert {(d["split"], d["path"], d["reason"]) for d in quality["dropped"]} == {
        ("train", path, reason) for path, reason in bad_train_rows.items()
    }
    assert quality["splits"]["train"]["kept"] == 4


def test_a_missing_corpus_folder_stops_the_run_with_one_clear_line(scratch_project, tmp_path):
    missing = tmp_path / "nowhere" / "zh-CN"
    result = kedro_cli(
        scratch_project, "run", "--pipelines=whisper_zh", "--params", f"corpus_dir={missing}"
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"Corpus folder not found: {missing}." in output
    assert "--params corpus_dir=<path>" in output
    assert not (scratch_project / "data/02_intermediate/whisper_zh/corpus_raw").exists()


def test_an_empty_split_stops_the_run_before_any_output_is_written(
    scratch_project, small_corpus, tmp_path
):
    run_pipeline(
        scratch_project, "whisper_zh", {"corpus_dir": str(small_corpus)}, to_nodes=DATA_STAGES_END
    )
    written = {
        p: p.stat().st_mtime_ns for p in (scratch_project / "data").rglob("*") if p.is_file()
    }
    corpus = shutil.copytree(small_corpus, tmp_path / "corpus", symlinks=True)
    header = (corpus / "test.tsv").read_text(encoding="utf-8").splitlines()[0]
    (corpus / "test.tsv").write_text(header + "\n", encoding="utf-8")
    with pytest.raises(UnreadableInputError) as stopped:
        run_pipeline(scratch_project, "whisper_zh", {"corpus_dir": str(corpus)})
    assert str(stopped.value) == (
        f"whisper_zh.corpus_source: split 'test' has no rows ({corpus / 'test.tsv'})"
    )
    # No node ran: every output, data_quality.json included, is still the previous run's whole set.
    assert {
        p: p.stat().st_mtime_ns for p in (scratch_project / "data").rglob("*") if p.is_file()
    } == written
