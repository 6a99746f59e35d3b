"""MLflow's store in a copied project: its artifacts go under the copy, never into the original."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import SAMPLE_CORPUS_CATALOG
from tests.scratch_project import copy_project, run_pipeline

pytestmark = pytest.mark.slow


def test_a_copied_project_writes_its_mlflow_artifacts_under_itself(tmp_path):
    from mlflow.tracking import MlflowClient  # noqa: PLC0415 (slow import)

    original = tmp_path / "original"
    original.mkdir()
    copy_project(original, tracked=True, catalog=SAMPLE_CORPUS_CATALOG)
    one_node = {"node_names": ["whisper_zh.read_input_window"]}
    run_pipeline(original, "whisper_zh", {}, **one_node)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy, symlinks=True)
    run_pipeline(copy, "whisper_zh", {}, **one_node)

    client = MlflowClient(f"sqlite:///{copy / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("peft_pipelines")
    assert experiment.artifact_location == (copy / "mlartifacts").as_uri()
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2  # the copied run and the copy's own
    for run in runs:
        assert run.info.artifact_uri.startswith((copy / "mlartifacts").as_uri() + "/"), run
    # The original's store is untouched by the copy's runs.
    original_client = MlflowClient(f"sqlite:///{original / 'mlflow.db'}")
    original_experiment = original_client.get_experiment_by_name("peft_pipelines")
    assert original_experiment.artifact_location == (original / "mlartifacts").as_uri()
    assert len(original_client.search_runs([original_experiment.experiment_id])) == 1
