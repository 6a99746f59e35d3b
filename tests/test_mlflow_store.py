"""MLflow's store over killed runs and broken files: dead runs marked FAILED, a corrupt store one line."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys

import psutil
import pytest

from peft_pipelines.demo import recorded_cers
from peft_pipelines.errors import UserError
from peft_pipelines.hooks import TrackingStoreError
from tests.scratch_project import copy_project, run_pipeline

pytestmark = pytest.mark.slow

ONE_NODE = {"node_names": ["whisper_zh.read_input_window"]}
WINDOW = "data/03_primary/whisper_zh/input_window.json"  # that node's output


@pytest.fixture(scope="module")
def tracked_project(tmp_path_factory, sample_corpus_catalog):
    """A project with one tracked run of one node: its mlflow.db holds the experiment."""
    project = copy_project(
        tmp_path_factory.mktemp("tracked"), tracked=True, catalog=sample_corpus_catalog
    )
    run_pipeline(project, "whisper_zh", {}, **ONE_NODE)
    return project


def _process(seconds: float) -> tuple[subprocess.Popen, dict[str, str]]:
    """A child process, and the tags a run opened by it would carry."""
    child = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])
    tags = {
        "process.host": socket.gethostname(),
        "process.pid": str(child.pid),
        "process.started": repr(psutil.Process(child.pid).create_time()),
    }
    return child, tags


def test_runs_left_running_by_ended_processes_are_marked_failed_and_no_live_ones(tracked_project):
    from mlflow.tracking import MlflowClient  # noqa: PLC0415 (slow import)

    client = MlflowClient(f"sqlite:///{tracked_project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("peft_pipelines").experiment_id
    killed, killed_tags = _process(60)
    killed.kill()
    killed.wait()
    alive, alive_tags = _process(600)
    try:
        runs = {
            "killed": killed_tags,
            "alive": alive_tags,
            # The live process's pid, but another start time: the pid was reused.
            "pid_reused": {**alive_tags, "process.started": repr(psutil.Process().create_time())},
            "other_host": {**killed_tags, "process.host": "another-machine"},
            "untagged": {},  # opened before runs recorded their process: cannot be known
        }
        ids = {
            name: client.create_run(experiment, tags=tags, run_name=name).info.run_id
            for name, tags in runs.items()
        }
        run_pipeline(tracked_project, "whisper_zh", {}, **ONE_NODE)
        status = {name: client.get_run(run_id).info.status for name, run_id in ids.items()}
        assert status == {
            "killed": "FAILED",
            "alive": "RUNNING",
            "pid_reused": "FAILED",
            "other_host": "RUNNING",
            "untagged": "RUNNING",
        }
        assert client.get_run(ids["killed"]).data.tags["failure"].startswith("its process ended")
    finally:
        alive.kill()
        alive.wait()
    (latest,) = client.search_runs([experiment], order_by=["attributes.start_time DESC"])[:1]
    assert latest.info.status == "FINISHED"
    assert latest.data.tags["process.pid"] == str(psutil.Process().pid)
    assert latest.data.tags["process.host"] == socket.gethostname()


def _garbage(store_bytes: bytes) -> bytes:
    return b"this is not an sqlite file\n" * 200


def _truncated(store_bytes: bytes) -> bytes:
    return store_bytes[: len(store_bytes) // 2]


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [(_garbage, "file is not a database"), (_truncated, "database disk image is malformed")],
)
def test_a_corrupt_store_stops_the_run_before_any_node_with_one_line(
    tracked_project, tmp_path, spoil, reason, sample_corpus_catalog
):
    project = copy_project(tmp_path, tracked=True, catalog=sample_corpus_catalog)
    store = project / "mlflow.db"
    store.write_bytes(spoil((tracked_project / "mlflow.db").read_bytes()))
    spoiled = store.read_bytes()
    with pytest.raises(TrackingStoreError) as stopped:
        run_pipeline(project, "whisper_zh", {}, **ONE_NODE)
    assert isinstance(stopped.value, UserError)
    assert str(stopped.value) == (
        f"mlflow.db is not a readable MLflow store ({reason}): move it aside to start a new one "
        "(mv mlflow.db mlflow.db.broken), or run untracked with `enabled: false` in "
        "conf/local/mlflow.yml"
    )
    assert store.read_bytes() == spoiled  # not repaired, not replaced
    assert not (project / WINDOW).exists()  # no node ran


def test_the_demo_reads_test_cers_from_metrics_json_when_the_store_is_corrupt(tmp_path, caplog):
    folder = tmp_path / "data/06_models/whisper_zh/adapter/2026-11-01T10.00.00.000Z/adapter"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    metrics = tmp_path / "data/08_reporting/whisper_zh/metrics.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps({"finetuned": {"cer": 0.25}}))
    (tmp_path / "mlflow.db").write_bytes(_garbage(b""))
    shutil.copystat(folder, metrics)  # written with the adapter
    cers = recorded_cers(
        tmp_path,
        "whisper_zh",
        [folder],
        tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
        metrics_file=metrics,
    )
    assert cers == {folder: 0.25}
    assert "mlflow.db is unreadable (file is not a database)" in caplog.text
