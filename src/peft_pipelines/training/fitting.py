"""Fitting an adapter with the Hugging Face Trainer: checkpoints, resume, and the log history.

Training resumes from the last complete checkpoint after an interruption, but
only from a checkpoint made with the same data and parameters: a fingerprint
of both is kept beside the checkpoints, and a mismatch starts training afresh
(the stale checkpoints are moved aside) with the reason in the log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasets import Dataset
from peft import PeftModel
from transformers import (
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

logger = logging.getLogger(__name__)

FINGERPRINT_FILE = "run_fingerprint.json"
# Our own keys in the `training` parameters; everything else goes to TrainingArguments.
CORE_KEYS = ("output_dir", "resume")


def run_fingerprint(parts: dict[str, Any]) -> str:
    """A stable hash of everything that makes a checkpoint reusable (data, model, parameters)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The highest ``checkpoint-N`` whose ``trainer_state.json`` (written last by the Trainer) exists."""
    complete = [
        (int(match.group(1)), path)
        for path in folder.glob("checkpoint-*")
        if (match := re.fullmatch(r"checkpoint-(\d+)", path.name))
        and (path / "trainer_state.json").is_file()
    ]
    return max(complete)[1] if complete else None


def _checkpoint_to_resume(folder: Path, fingerprint: str, resume: bool) -> Path | None:
    saved = folder / FINGERPRINT_FILE
    if not folder.is_dir() or not any(folder.glob("checkpoint-*")):
        return None
    reason = None
    if not resume:
        reason = "resume is off in the training parameters"
    elif not saved.is_file():
        reason = f"no {FINGERPRINT_FILE} beside them"
    elif json.loads(saved.read_text())["fingerprint"] != fingerprint:
        reason = "they were made with other data or parameters"
    elif (checkpoint := last_complete_checkpoint(folder)) is None:
        reason = "none of them is complete"
    if reason is None:
        logger.info("Resuming training from %s (same data and parameters)", checkpoint)
        return checkpoint
    stale = folder.with_name(folder.name + ".stale")
    logger.warning(
        "Not resuming from the checkpoints in %s: %s. Starting afresh; moved them to %s",
        folder,
        reason,
        stale,
    )
    shutil.rmtree(stale, ignore_errors=True)
    folder.rename(stale)
    return None


class AdaLoraRankAllocation(TrainerCallback):
    """Runs AdaLoRA's rank budgeting after each optimizer step, which the Trainer does not do itself.

    AdaLoRA scores each singular value from the current gradients and prunes
    toward ``target_r``; it must run after ``optimizer.step()`` and before the
    gradients are zeroed, which is exactly ``on_optimizer_step``.
    """

    def __init__(self, model: PeftModel) -> None:
        self.model = model

    def on_optimizer_step(self, args, state, control, **kwargs):  # noqa: ARG002 (TrainerCallback signature)
        self.model.base_model.update_and_allocate(state.global_step)


def uses_adalora(model: PeftModel) -> bool:
    return any(
        str(getattr(c.peft_type, "value", c.peft_type)) == "ADALORA"
        for c in model.peft_config.values()
    )


def fit_adapter(
    model: PeftModel,
    train_dataset: Dataset,
    eval_dataset: Dataset | None,
    data_collator: Callable,
    *,
    training: dict[str, Any],
    fingerprint_parts: dict[str, Any],
    seq2seq: bool = False,
) -> tuple[PeftModel, dict[str, Any]]:
    """Train the adapter of ``model`` with ``Trainer`` (``Seq2SeqTrainer`` if ``seq2seq``).

    ``training`` holds ``output_dir`` (the checkpoint folder), ``resume`` and any
    ``TrainingArguments`` / ``Seq2SeqTrainingArguments`` field (``max_steps``,
    ``learning_rate``, ``save_steps``, ``save_total_limit``,
    ``load_best_model_at_end``, ``metric_for_best_model``...). Returns the
    trained model (the best checkpoint's, if so configured) and the training
    log: the Trainer's log history (each step once, also across a resume) and
    where training resumed from.
    """
    folder = Path(training["output_dir"])
    fingerprint = run_fingerprint(
        {
            **fingerprint_parts,
            "training": {k: v for k, v in training.items() if k not in CORE_KEYS},
            "train_data": train_dataset._fingerprint,
            "eval_data": eval_dataset._fingerprint if eval_dataset is not None else None,
        }
    )
    resume_from = _checkpoint_to_resume(folder, fingerprint, bool(training.get("resume", True)))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FINGERPRINT_FILE).write_text(json.dumps({"fingerprint": fingerprint}))

    arguments_class = Seq2SeqTrainingArguments if seq2seq else TrainingArguments
    arguments = arguments_class(
        output_dir=str(folder),
        **{
            "report_to": [],
            "remove_unused_columns": False,
            "label_names": ["labels"],
            **{k: v for k, v in training.items() if k not in CORE_KEYS},
        },
    )
    trainer_class = Seq2SeqTrainer if seq2seq else Trainer
    trainer = trainer_class(
        model=model,
        args=arguments,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=data_collator,
        callbacks=[AdaLoraRankAllocation(model)] if uses_adalora(model) else None,
    )
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    log = {
        "resumed_from": resume_from.name if resume_from else None,
        "global_step": trainer.state.global_step,
        "best_checkpoint": Path(trainer.state.best_model_checkpoint).name
        if trainer.state.best_model_checkpoint
        else None,
        "log_history": trainer.state.log_history,
    }
    return trainer.model, log
