"""Incremental runs: a change reruns exactly the nodes it made stale, and nothing else."""

from __future__ import annotations

import copy
import os
import shutil
import time
from pathlib import Path

import pytest
from datasets import DatasetDict

from peft_pipelines.fingerprints import files_signature
from peft_pipelines.runner import IncrementalRunner
from tests.scratch_project import PROJECT_ROOT, copy_project, kedro_cli, run_pipeline
from tests.support import QUICK_WHISPER_RUN, copy_corpus_head

pytestmark = pytest.mark.slow

DATA = {
    "ingest_corpus",
    "prune_columns",
    "read_input_window",
    "audio_features.resample_to_16k",
    "audio_features.extract_features_and_labels",
    "join_long_utterances",
    "report_data_quality",
}
MODEL = {"describe_base_model", "add_peft_adapter", "train_adapter", "evaluate_transcription"}
REPORT = {"plot_loss_curve", "plot_error_rates"}
PARITY = {"check_export_parity", "record_export_verdict", "require_export_parity"}
EXPORT = {"merge_adapter", "export_ctranslate2", "export_base_ctranslate2", *PARITY}
# What the corpus feeds: not the window, nor the base model, its untrained adapter and export.
UNTOUCHED_BY_DATA = {
    "read_input_window",
    "describe_base_model",
    "add_peft_adapter",
    "export_base_ctranslate2",
}


def _names(short: set[str]) -> set[str]:
    return {f"whisper_zh.{name}" for name in short}


DATA_CHANGED = _names((DATA | MODEL | REPORT | EXPORT) - UNTOUCHED_BY_DATA)


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_whisper_catalog, tiny_opt_catalog) -> Path:
    """A scratch project on its own copy of a corpus sample, so a test may edit the corpus."""
    root = tmp_path_factory.mktemp("incremental")
    corpus = copy_corpus_head(root / "corpus", {"train": 16, "dev": 4, "test": 4})
    catalog = {
        **tiny_whisper_catalog,
        **tiny_opt_catalog,
        "whisper_zh.corpus_source": {
            "type": "peft_pipelines.io.CommonVoiceReleaseDataset",
            "path": str(corpus),
        },
    }
    (root / "project").mkdir()
    return copy_project(root / "project", catalog=catalog)


def _run(
    project: Path, params: dict | None = None, pipeline: str = "whisper_zh"
) -> tuple[set[str], float]:
    runner = IncrementalRunner()
    started = time.monotonic()
    run_pipeline(project, pipeline, params or QUICK_WHISPER_RUN, runner=runner)
    return set(runner.last_plan.stale), time.monotonic() - started


def _with(**changes) -> dict:
    params = copy.deepcopy(QUICK_WHISPER_RUN)
    for dotted, value in changes.items():
        *path, key = dotted.split("__")
        branch = params["whisper_zh"]
        for part in path:
            branch = branch.setdefault(part, {})
        branch[key] = value
    return params


def _latest_mlflow_tags(project: Path) -> dict[str, str]:
    from mlflow.tracking import MlflowClient  # noqa: PLC0415 (slow import, one test)

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("peft_pipelines")
    (run,) = client.search_runs(
        [experiment.experiment_id], order_by=["start_time DESC"], max_results=1
    )
    return run.data.tags


def test_a_second_run_with_no_change_runs_nothing_and_a_changed_setting_reruns_its_nodes(
    project, capsys
):
    ran, first = _run(project)
    assert ran == _names(DATA | MODEL | REPORT | EXPORT)
    checkpoints = project / "data/06_models/whisper_zh/checkpoints"
    saved_checkpoints = files_signature(checkpoints)
    assert any("checkpoint-" in name for name, _, _ in saved_checkpoints)
    ran, again = _run(project)
    assert ran == set()
    with capsys.disabled():
        print(f"\nincremental: first run {first:.1f} s, no-change run {again:.1f} s")  # noqa: T201

    # The dry run names the parameter; the run then reruns the evaluation and its figure only.
    from peft_pipelines.cli import stale_lines  # noqa: PLC0415

    cwd = os.getcwd()
    os.chdir(project)
    try:
        listing = "\n".join(stale_lines(["whisper_zh"], None, _with(evaluation__max_new_tokens=6)))
    finally:
        os.chdir(cwd)
    assert (
        "run    whisper_zh.evaluate_transcription: parameter params:whisper_zh.evaluation changed"
        in listing
    )
    assert "fresh  whisper_zh.train_adapter" in listing
    mlflow_switch = project / "conf/local/mlflow.yml"
    mlflow_switch.write_text("enabled: true\n")  # this run is tracked
    try:
        ran, changed = _run(project, _with(evaluation__max_new_tokens=6))
    finally:
        mlflow_switch.write_text("enabled: false\n")
    # The export's parity check decodes with the evaluation's settings too.
    assert ran == _names({"evaluate_transcription", "plot_error_rates", *PARITY})
    # Training was skipped as fresh: its checkpoints are as it left them.
    assert files_signature(checkpoints) == saved_checkpoints
    tags = _latest_mlflow_tags(project)
    assert set(tags["incremental.ran"].split(",")) == ran
    assert (
        set(tags["incremental.skipped_fresh"].split(","))
        == _names(DATA | MODEL | REPORT | EXPORT) - ran
    )
    with capsys.disabled():
        print(f"incremental: evaluation-parameter run {changed:.1f} s")  # noqa: T201

    ran, _ = _run(project, _with(evaluation__max_new_tokens=6, peft__r=2))
    adapter_and_after = {"add_peft_adapter", "train_adapter", "evaluate_transcription"}
    assert ran == _names(
        adapter_and_after | REPORT | {"merge_adapter", "export_ctranslate2", *PARITY}
    )


def test_a_changed_sentence_or_clip_reruns_the_data_and_model_stages(project, quick_opt_run):
    both = {**_with(evaluation__max_new_tokens=6, peft__r=2), **quick_opt_run}
    _run(project, both, "__default__")  # every node of both pipelines fresh, whatever ran before
    corpus = project.parent / "corpus"
    train = corpus / "train.tsv"
    lines = train.read_text(encoding="utf-8").splitlines()
    fields = lines[1].split("\t")
    fields[2] = fields[2] + "吗"
    train.write_text("\n".join([lines[0], "\t".join(fields), *lines[2:]]) + "\n", encoding="utf-8")
    ran, _ = _run(project, both, "__default__")
    assert ran == DATA_CHANGED  # and no node of opt_quotes

    clips = sorted((corpus / "clips").iterdir())
    shutil.copy(clips[1], clips[0])  # another recording under the first clip's name
    ran, _ = _run(project, _with(evaluation__max_new_tokens=6, peft__r=2))
    assert ran == DATA_CHANGED


def test_a_run_killed_while_saving_leaves_that_node_stale(project, monkeypatch):
    params = _with(evaluation__max_new_tokens=6, peft__r=2)
    _run(project, params)
    save = DatasetDict.save_to_disk

    def killed_while_saving_features(self, path, *args, **kwargs):
        if "04_feature" in str(path):
            raise KeyboardInterrupt("killed mid-save")
        return save(self, path, *args, **kwargs)

    monkeypatch.setattr(DatasetDict, "save_to_disk", killed_while_saving_features)
    changed = _with(evaluation__max_new_tokens=6, peft__r=2, features__max_label_tokens=440)
    with pytest.raises(KeyboardInterrupt):
        _run(project, changed)
    monkeypatch.setattr(DatasetDict, "save_to_disk", save)
    ran, _ = _run(project, changed)
    assert "whisper_zh.audio_features.extract_features_and_labels" in ran
    assert "whisper_zh.audio_features.resample_to_16k" not in ran

    features = next((project / "data/04_feature/whisper_zh/features").rglob("*.arrow"))
    features.write_bytes(features.read_bytes())  # touched by hand: its time changes
    ran, _ = _run(project, changed)
    assert "whisper_zh.audio_features.extract_features_and_labels" in ran


def test_an_edited_node_function_reruns_that_node_and_what_follows_it(
    tmp_path, sample_corpus_catalog
):
    project = copy_project(tmp_path, catalog=sample_corpus_catalog)
    shutil.copytree(PROJECT_ROOT / "src" / "peft_pipelines", project / "src" / "peft_pipelines")
    data_stages = "whisper_zh.report_data_quality,whisper_zh.join_long_utterances"
    runner = "peft_pipelines.runner.IncrementalRunner"
    package = project / "src"  # the scratch copy, edited below, imported first
    result = kedro_cli(
        project,
        *("run", "--pipelines", "whisper_zh", "--runner", runner, "--to-nodes", data_stages),
        pythonpath=package,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    nodes = project / "src" / "peft_pipelines" / "pipelines" / "whisper_zh" / "nodes.py"
    source = nodes.read_text()
    edited = source.replace(
        "    keep = list(dict.fromkeys([ROW_ID_COLUMN, *keep_columns]))\n",
        "    keep = list(dict.fromkeys([ROW_ID_COLUMN, *keep_columns]))  # edited\n",
    )
    assert edited != source
    nodes.write_text(edited)
    result = kedro_cli(project, "stale", "--pipelines", "whisper_zh", pythonpath=package)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(
        line.split(maxsplit=1)[::-1]
        for line in result.stdout.splitlines()
        if line[:5] in {"run  ", "fresh"}
    )
    status = {name.split(":")[0]: state for name, state in lines.items()}
    assert status["whisper_zh.prune_columns"] == "run"
    assert "the code of prune_columns changed" in result.stdout
    for downstream in (
        "audio_features.resample_to_16k",
        "join_long_utterances",
        "report_data_quality",
    ):
        assert status[f"whisper_zh.{downstream}"] == "run", downstream
    for untouched in ("ingest_corpus", "read_input_window"):
        assert status[f"whisper_zh.{untouched}"] == "fresh", untouched
