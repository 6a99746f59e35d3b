"""The training core never loses resumable checkpoints, skips torn ones and does not retrain a finished run."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from peft import get_peft_model_state_dict

from peft_pipelines.io.base_model_manifest import BaseModelManifest
from peft_pipelines.io.model_loading import load_base_model
from peft_pipelines.speech.collator import collator_for
from peft_pipelines.training.checkpoints import checkpoint_problem, record_checkpoint
from peft_pipelines.training.fitting import fit_model, run_fingerprint
from peft_pipelines.training.peft_wrapping import wrap_with_peft
from tests.support import LORA

COLUMNS = ["log_mel", "labels"]
# Two steps of four clips, saved and evaluated after each: the best checkpoint is kept.
TWO_STEPS = {
    "max_steps": 2,
    "save_steps": 1,
    "eval_strategy": "steps",
    "eval_steps": 1,
    "logging_steps": 1,
    "per_device_train_batch_size": 4,
    "per_device_eval_batch_size": 4,
    "learning_rate": 1e-2,
    "seed": 0,
    "load_best_model_at_end": True,
    "metric_for_best_model": "eval_loss",
    "greater_is_better": False,
}


@dataclass(frozen=True)
class TinyWhisperTraining:
    """Fits LoRA on the tiny random Whisper and the bundled sample's features."""

    manifest: BaseModelManifest
    features: Any

    def _data(self, evaluate: bool) -> tuple[Any, Any]:
        train, dev = (self.features[split].select_columns(COLUMNS) for split in ("train", "dev"))
        return train, dev if evaluate else None

    def fit(self, folder: Path, training: dict, *, collate=None, evaluate: bool = True):
        model, _ = wrap_with_peft(load_base_model(self.manifest), LORA)
        return fit_model(
            model,
            *self._data(evaluate),
            collate or collator_for(model.get_base_model().config),
            training={"output_dir": str(folder), **training},
            fingerprint_parts={"base_model": self.manifest.to_mapping(), "peft": LORA},
            seq2seq=True,
        )

    def fingerprint(self, folder: Path, training: dict, *, evaluate: bool = True) -> str:
        return run_fingerprint(
            {"output_dir": str(folder), **training},
            {"base_model": self.manifest.to_mapping(), "peft": LORA},
            *self._data(evaluate),
        )


@pytest.fixture(scope="module")
def tiny(tiny_whisper_manifest, bundled_features) -> TinyWhisperTraining:
    return TinyWhisperTraining(tiny_whisper_manifest, bundled_features)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _old_checkpoints(tmp_path: Path) -> Path:
    """Checkpoints of an earlier run with other settings, and an even older ``.stale``."""
    folder = tmp_path / "checkpoints"
    for step in (2, 4):
        (folder / f"checkpoint-{step}").mkdir(parents=True)
        (folder / f"checkpoint-{step}" / "adapter_model.safetensors").write_bytes(b"old" * step)
        record_checkpoint(folder / f"checkpoint-{step}", "an earlier run's fingerprint")
    (tmp_path / "checkpoints.stale" / "checkpoint-9").mkdir(parents=True)
    (tmp_path / "checkpoints.stale" / "checkpoint-9" / "optimizer.pt").write_bytes(b"older")
    return folder


class _BrokenClip(OSError):
    pass


def _failing_collator(features):
    raise _BrokenClip("a clip the collator cannot read")


@pytest.mark.parametrize(
    "failure",
    [
        ({"learning_rate": -1e-3}, None, ValueError),  # the optimizer rejects it
        ({}, _failing_collator, _BrokenClip),  # the first batch fails
    ],
    ids=["negative learning rate", "data error"],
)
def test_a_failure_before_the_first_save_leaves_the_checkpoints_and_the_older_stale_where_they_were(
    tiny, tmp_path, failure
):
    training, collate, error = failure
    folder = _old_checkpoints(tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(error):
        tiny.fit(folder, {**TWO_STEPS, **training}, collate=collate)
    assert _tree(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "checkpoints.stale"]


def test_a_run_with_other_settings_moves_the_old_checkpoints_aside_only_once_it_has_saved_its_own(
    tiny, tmp_path
):
    folder = _old_checkpoints(tmp_path)
    old, older = _tree(folder), _tree(tmp_path / "checkpoints.stale")
    training = {"max_steps": 3, "save_steps": 2, "per_device_train_batch_size": 4, "seed": 0}
    new_run = tiny.fingerprint(folder, training, evaluate=False)
    model, _ = wrap_with_peft(load_base_model(tiny.manifest), LORA)
    collate = collator_for(model.get_base_model().config)
    seen = []  # at each batch: (old checkpoints in place, older .stale in place, new one saved)

    def watching_collator(features):
        saved = [p for p in tmp_path.glob("*/checkpoint-*") if not checkpoint_problem(p, new_run)]
        in_place = _tree(folder) == old
        seen.append((in_place, _tree(tmp_path / "checkpoints.stale") == older, bool(saved)))
        return collate(features)

    tiny.fit(folder, training, collate=watching_collator, evaluate=False)

    assert (True, True, False) in seen and (False, False, True) in seen
    assert all(in_place == older_in_place != saved for in_place, older_in_place, saved in seen)
    assert _tree(tmp_path / "checkpoints.stale") == old
    assert sorted(p.name for p in folder.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    assert checkpoint_problem(folder / "checkpoint-3", new_run) is None
    assert not (tmp_path / "checkpoints.new").exists()


@pytest.fixture(scope="module")
def finished_run(tiny, tmp_path_factory):
    """A finished two-step run: its checkpoint folder, its adapter's weights and its log."""
    folder = tmp_path_factory.mktemp("finished") / "checkpoints"
    trained, log = tiny.fit(folder, TWO_STEPS)
    weights = {k: v.detach().clone() for k, v in get_peft_model_state_dict(trained).items()}
    return folder, weights, log


def _copy(finished_run, tmp_path: Path) -> Path:
    shutil.copytree(finished_run[0], tmp_path / "checkpoints")
    return tmp_path / "checkpoints"


@pytest.mark.parametrize("torn_file", ["optimizer.pt", "adapter_model.safetensors"])
def test_a_torn_newest_checkpoint_is_skipped_with_a_warning_naming_it_and_the_previous_one_resumed(
    tiny, finished_run, tmp_path, caplog, torn_file
):
    folder = _copy(finished_run, tmp_path)
    torn = folder / "checkpoint-2" / torn_file
    torn.write_bytes(torn.read_bytes()[: torn.stat().st_size // 2])
    with caplog.at_level(logging.WARNING):
        _, log = tiny.fit(folder, TWO_STEPS)
    assert f"{torn} is torn" in caplog.text
    assert log["resumed_from"] == "checkpoint-1" and log["global_step"] == 2
    assert [entry["step"] for entry in log["log_history"] if "loss" in entry] == [1, 2]
    # The resumed run saved checkpoint-2 again, whole.
    assert checkpoint_problem(folder / "checkpoint-2", tiny.fingerprint(folder, TWO_STEPS)) is None


def test_with_no_whole_checkpoint_training_starts_afresh_with_a_warning(
    tiny, finished_run, tmp_path, caplog
):
    folder = _copy(finished_run, tmp_path)
    for step in (1, 2):
        (folder / f"checkpoint-{step}" / "optimizer.pt").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        _, log = tiny.fit(folder, TWO_STEPS)
    assert f"No checkpoint in {folder} can be resumed" in caplog.text
    assert log["resumed_from"] is None and log["global_step"] == 2
    # The torn ones were set aside once the new run had its own checkpoint.
    assert (tmp_path / "checkpoints.stale" / "checkpoint-2" / "optimizer.pt").read_bytes() == b""
    assert checkpoint_problem(folder / "checkpoint-2", tiny.fingerprint(folder, TWO_STEPS)) is None


def test_rerunning_a_finished_training_runs_no_step_writes_nothing_and_gives_the_same_adapter(
    tiny, finished_run, tmp_path
):
    folder = _copy(finished_run, tmp_path)
    before = _tree(folder)
    trained, log = tiny.fit(folder, TWO_STEPS)
    assert log["global_step"] == 2 and log["resumed_from"] == "checkpoint-2"
    assert log["best_checkpoint"] == finished_run[2]["best_checkpoint"]
    assert _tree(folder) == before  # no checkpoint-3, nothing rewritten
    weights = get_peft_model_state_dict(trained)
    assert weights.keys() == finished_run[1].keys()
    for name, value in finished_run[1].items():
        torch.testing.assert_close(weights[name], value, rtol=0, atol=0)
