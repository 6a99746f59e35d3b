"""Two runs on one checkpoint folder: the second stops at once, naming the first; a killed run's lock is taken over."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from peft_pipelines.io.locks import FolderLockedError, folder_lock
from tests.scratch_project import copy_project, run_pipeline

HOLD = """
import sys, time
from pathlib import Path
from peft_pipelines.io.locks import folder_lock
with folder_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def holder() -> Iterator:
    """Start a process that holds a folder's lock; yields a function taking the folder."""
    started: list[subprocess.Popen] = []

    def hold(folder: Path) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
        )
        assert process.stdout.readline().strip() == "held"
        started.append(process)
        return process

    yield hold
    for process in started:
        process.kill()
        process.wait()


def test_a_held_folder_stops_a_second_holder_naming_the_first(tmp_path, holder):
    folder = tmp_path / "checkpoints"
    first = holder(folder)
    with pytest.raises(FolderLockedError, match=rf"in use by another run \(pid {first.pid} on "):
        with folder_lock(folder):
            pass


def test_the_lock_of_a_killed_run_is_taken_over_with_a_warning(tmp_path, holder, caplog):
    folder = tmp_path / "checkpoints"
    killed = holder(folder)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    with caplog.at_level(logging.WARNING), folder_lock(folder):
        pass
    assert f"left by a run that ended without releasing it (pid {killed.pid} on " in caplog.text
    with folder_lock(folder):  # released cleanly this time: nothing to take over
        pass


def test_a_second_kedro_run_on_a_training_folder_in_use_stops_before_any_node(
    tmp_path, holder, sample_corpus_catalog
):
    project = copy_project(tmp_path, catalog=sample_corpus_catalog)
    first = holder(project / "data/06_models/whisper_zh/checkpoints")
    with pytest.raises(FolderLockedError) as stopped:
        run_pipeline(project, "whisper_zh", {})
    message = str(stopped.value)
    assert "whisper_zh/checkpoints is in use by another run" in message
    assert f"(pid {first.pid} on " in message and "\n" not in message
    assert not (project / "data/02_intermediate/whisper_zh").exists()
