"""MLflow's store in a copied project: new runs' artifacts go under the copy, never into the original."""

from __future__ import annotations

import logging
import logging.handlers
import shutil
import subprocess

import pytest

from tests.scratch_project import copy_project, run_pipeline

pytestmark = pytest.mark.slow


def test_a_copied_project_writes_its_mlflow_artifacts_under_itself(tmp_path, sample_corpus_catalog):
    from mlflow.tracking import MlflowClient  # noqa: PLC0415 (slow import)

    original = tmp_path / "original"
    original.mkdir()
    copy_project(original, tracked=True, catalog=sample_corpus_catalog)
    one_node = {"node_names": ["whisper_zh.read_input_window"]}
    run_pipeline(original, "whisper_zh", {}, **one_node)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy, symlinks=True)
    # Kedro's logging set-up, at each run, replaces the root logger's handlers (caplog's).
    warnings = logging.handlers.BufferingHandler(capacity=10_000)
    warnings.setLevel(logging.WARNING)
    hooks_logger = logging.getLogger("peft_pipelines.hooks")
    hooks_logger.addHandler(warnings)
    try:
        run_pipeline(copy, "whisper_zh", {}, **one_node)
        run_pipeline(copy, "whisper_zh", {}, **one_node)  # set aside once, not at every run
    finally:
        hooks_logger.removeHandler(warnings)

    client = MlflowClient(f"sqlite:///{copy / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("peft_pipelines")
    assert experiment.artifact_location == (copy / "mlartifacts").as_uri()
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2  # the copy's own
    for run in runs:
        assert run.info.artifact_uri.startswith((copy / "mlartifacts").as_uri() + "/"), run
    # MLflow cannot move the copied run's artifacts: its experiment is set aside, renamed.
    (aside,) = [e for e in client.search_experiments() if e.name.startswith("peft_pipelines (")]
    assert (
        aside.name == f"peft_pipelines (copied from {original}, experiment {aside.experiment_id})"
    )
    (copied_run,) = client.search_runs([aside.experiment_id])
    assert copied_run.info.artifact_uri.startswith((original / "mlartifacts").as_uri() + "/")
    (warning,) = [r.getMessage() for r in warnings.buffer if "MLflow cannot move" in r.getMessage()]
    assert warning.startswith("MLflow: mlflow.db keeps the artifacts of experiment peft_pipelines")
    # The original's store is untouched by the copy's runs.
    original_client = MlflowClient(f"sqlite:///{original / 'mlflow.db'}")
    original_experiment = original_client.get_experiment_by_name("peft_pipelines")
    assert original_experiment.artifact_location == (original / "mlartifacts").as_uri()
    assert len(original_client.search_runs([original_experiment.experiment_id])) == 1

    # The warning's command points the copied run at the copy's folder.
    command = warning.rsplit("(docs/tracking.md): ", 1)[1]
    subprocess.run(command, shell=True, cwd=copy, check=True)
    repointed = client.get_run(copied_run.info.run_id)
    assert repointed.info.artifact_uri.startswith((copy / "mlartifacts").as_uri() + "/")
    assert client.get_experiment(aside.experiment_id).artifact_location == (
        (copy / "mlartifacts").as_uri()
    )
