"""The training stage on two processes (DistributedDataParallel over gloo): rank 0 alone writes.

The data stages and the untrained adapter are made once, by a plain run. Then
``whisper_zh.train_adapter`` runs as a two-process job, started the way
torchrun starts it (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``), each rank in its own identical copy of the project: so what
each rank wrote can be told apart, which a shared folder would hide.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scratch_project import copy_project, run_pipeline
from tests.support import LORA

pytestmark = pytest.mark.slow

# The tiny random Whisper, 16 training clips; 4 steps of 2 clips per process (4 per step).
DATA_AND_ADAPTER_PARAMS = {"whisper_zh": {"peft": {**LORA, "modules_to_save": None}}}
TRAINING_PARAMS = (
    "whisper_zh.training.max_steps=4,whisper_zh.training.eval_steps=2,"
    "whisper_zh.training.save_steps=2,whisper_zh.training.logging_steps=1,"
    "whisper_zh.training.per_device_train_batch_size=2,whisper_zh.training.per_device_eval_batch_size=2"
)
ADAPTERS = Path("data/06_models/whisper_zh/adapter")  # versioned: <timestamp>/adapter
OUTPUTS = (
    ADAPTERS,
    Path("data/08_reporting/whisper_zh/training_log.json"),
    Path("data/06_models/whisper_zh/checkpoints"),
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory, quick_whisper_catalog) -> dict:
    """Rank 0 in one project copy, rank 1 in another, both tracked by MLflow; their logs."""
    rank0 = copy_project(tmp_path_factory.mktemp("rank0"), catalog=quick_whisper_catalog)
    run_pipeline(
        rank0,
        "whisper_zh",
        DATA_AND_ADAPTER_PARAMS,
        to_nodes=["whisper_zh.add_peft_adapter", "whisper_zh.report_data_quality"],
    )
    (rank0 / "conf" / "local" / "mlflow.yml").unlink()  # the two-process job is tracked
    rank1 = tmp_path_factory.mktemp("rank1") / "project"
    shutil.copytree(rank0, rank1, symlinks=True)

    port = _free_port()
    processes = []
    for rank, project in enumerate((rank0, rank1)):
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "LOCAL_WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
            "COLUMNS": "400",  # one log record per line, for the assertions on the logs
        }
        command = [
            sys.executable,
            "-m",
            "kedro",
            "run",
            "--pipelines",
            "whisper_zh",
            "--nodes",
            "whisper_zh.train_adapter",
            "--params",
            TRAINING_PARAMS,
        ]
        log = (project / f"rank{rank}.log").open("w")
        processes.append(
            (
                subprocess.Popen(
                    command, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT
                ),
                log,
                project,
            )
        )
    for process, log, project in processes:
        process.wait(timeout=900)
        log.close()
        assert process.returncode == 0, (project / log.name).read_text()[-4000:]
    return {"rank0": rank0, "rank1": rank1}


def test_rank_0_writes_one_adapter_and_the_whole_loss_history(two_rank_run):
    project = two_rank_run["rank0"]
    for output in OUTPUTS:
        assert (project / output).exists(), output
    assert len(list((project / ADAPTERS).glob("*/adapter/adapter_config.json"))) == 1
    log = json.loads((project / OUTPUTS[1]).read_text())
    assert [e["step"] for e in log["log_history"] if "loss" in e] == [1, 2, 3, 4]
    assert len([e for e in log["log_history"] if "eval_loss" in e]) == 2
    assert log["global_step"] == 4
    assert sorted(p.name for p in (project / OUTPUTS[2]).glob("checkpoint-*")) == [
        "checkpoint-2",
        "checkpoint-4",
    ]
    # Both processes trained: DDP's gloo process group had two members.
    assert "of world size 2" in (project / "rank0.log").read_text()


def test_rank_1_writes_no_output_and_logs_no_mlflow_run(two_rank_run):
    project = two_rank_run["rank1"]
    for output in OUTPUTS[:2]:
        assert not (project / output).exists(), output
    # Of a checkpoint, each rank saves its own random-number state (resuming needs them
    # all), nothing else: the weights, optimizer and trainer state are rank 0's.
    written = sorted(
        p.relative_to(project / OUTPUTS[2]).as_posix()
        for p in (project / OUTPUTS[2]).rglob("*")
        if p.is_file()
    )
    assert written == ["checkpoint-2/rng_state_1.pth", "checkpoint-4/rng_state_1.pth"]
    assert not (project / "mlflow.db").exists()
    assert "Rank 1 of 2: outputs kept in memory" in (project / "rank1.log").read_text()


def test_rank_0_logs_one_finished_mlflow_run_with_the_loss(two_rank_run):
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    client = MlflowClient(f"sqlite:///{two_rank_run['rank0'] / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("peft_pipelines")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    history = client.get_metric_history(runs[0].info.run_id, "whisper_zh.loss")
    assert [m.step for m in history] == [1, 2, 3, 4]
