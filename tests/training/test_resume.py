"""Training killed after a checkpoint resumes from it, and only with the same data and parameters."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from peft_pipelines.training.checkpoints import MANIFEST_FILE, plan_checkpoints, record_checkpoint
from tests.support import LORA

TRAIN_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from datasets import load_from_disk
    from peft_pipelines.speech.collator import WhisperBatchCollator
    from peft_pipelines.io.base_model_manifest import BaseModelManifest
    from peft_pipelines.io.model_loading import load_base_model
    from peft_pipelines.training.fitting import fit_model
    from peft_pipelines.training.peft_wrapping import wrap_with_peft

    manifest, lora, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
    features = load_from_disk(out + "/features")
    model, _ = wrap_with_peft(load_base_model(BaseModelManifest.from_mapping(manifest)), lora)
    config = model.get_base_model().config
    collate = WhisperBatchCollator(2 * config.max_source_positions, config.decoder_start_token_id)
    _, log = fit_model(
        model, features["train"], None, collate,
        training={"output_dir": out + "/checkpoints", "max_steps": 6, "save_steps": 2, "logging_steps": 1,
                  "per_device_train_batch_size": 2, "learning_rate": 1e-3, "seed": 0, "save_total_limit": 10},
        fingerprint_parts={"base_model": manifest, "peft": lora},
        seq2seq=True,
    )
    json.dump(log, open(out + "/log.json", "w"))
    """
)


def _command(manifest, out):
    return [
        *(sys.executable, "-c", TRAIN_SCRIPT),
        *(json.dumps(manifest.to_mapping()), json.dumps(LORA), str(out)),
    ]


@pytest.mark.slow
def test_killed_training_resumes_after_its_last_checkpoint_and_logs_each_step_once(
    tiny_whisper_manifest, bundled_features, tmp_path
):
    bundled_features.select_columns(["log_mel", "labels"]).save_to_disk(str(tmp_path / "features"))
    first = subprocess.Popen(
        _command(tiny_whisper_manifest, tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 600
    while not (tmp_path / "checkpoints/checkpoint-2" / MANIFEST_FILE).is_file():
        assert first.poll() is None, first.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL
    assert not (tmp_path / "log.json").exists()
    done = sorted(
        int(p.name.split("-")[1])
        for p in (tmp_path / "checkpoints").glob("checkpoint-*")
        if (p / MANIFEST_FILE).is_file()
    )
    last = done[-1]
    assert last < 6

    second = subprocess.run(
        _command(tiny_whisper_manifest, tmp_path), capture_output=True, text=True, check=False
    )
    assert second.returncode == 0, second.stderr[-3000:]
    log = json.loads((tmp_path / "log.json").read_text())
    assert log["resumed_from"] == f"checkpoint-{last}"
    assert log["global_step"] == 6
    loss_steps = [entry["step"] for entry in log["log_history"] if "loss" in entry]
    assert loss_steps == list(
        range(1, 7)
    )  # steps 1..last from the checkpoint, last+1..6 from the rerun


def _fake_checkpoints(folder, fingerprint, steps=(2, 4)):
    for step in steps:
        (folder / f"checkpoint-{step}").mkdir(parents=True)
        (folder / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
        record_checkpoint(folder / f"checkpoint-{step}", fingerprint)


def test_checkpoints_of_other_data_or_parameters_are_not_resumed_with_the_reason_logged(
    tmp_path, caplog
):
    folder = tmp_path / "checkpoints"
    _fake_checkpoints(folder, "old-fingerprint")
    with caplog.at_level(logging.WARNING):
        plan = plan_checkpoints(folder, "new-fingerprint", resume=True)
    assert plan.resume_from is None and plan.train_into == tmp_path / "checkpoints.new"
    assert "made with other data or parameters" in caplog.text
    # Deciding moves nothing: the old checkpoints go aside once the new run has saved
    # (tests/training/test_checkpoint_safety.py).
    assert (folder / "checkpoint-4").is_dir() and not (tmp_path / "checkpoints.stale").exists()


def test_the_last_complete_checkpoint_is_chosen_and_a_half_written_one_ignored(tmp_path):
    folder = tmp_path / "checkpoints"
    _fake_checkpoints(folder, "same")
    (folder / "checkpoint-6").mkdir()  # killed before its trainer_state.json was written
    (folder / "checkpoint-8").mkdir()  # killed after it, before its manifest
    (folder / "checkpoint-8" / "trainer_state.json").write_text("{}")
    assert plan_checkpoints(folder, "same", resume=True).resume_from == folder / "checkpoint-4"
