"""Fitting a model with the Hugging Face Trainer: checkpoints, resume, a time budget, the log history.

One loop for every model the project trains: a PEFT adapter on a frozen
(often 8-bit) base.

Training resumes from the last complete checkpoint after an interruption, but
only from a checkpoint made with the same data and parameters: a fingerprint
of both is kept beside the checkpoints, and a mismatch starts training afresh
(the stale checkpoints are moved aside) with the reason in the log.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasets import Dataset
from peft import PeftModel
from transformers import (
    PreTrainedModel,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from peft_pipelines.io.model_loading import training_device
from peft_pipelines.io.packaged_files import sha256_of_json

logger = logging.getLogger(__name__)

FINGERPRINT_FILE = "run_fingerprint.json"
# Our own keys in the `training` parameters; everything else goes to TrainingArguments.
CORE_KEYS = ("output_dir", "resume", "time_budget_minutes")
# Raising max_steps extends a run rather than starting a new one: its checkpoints
# stay resumable (the Trainer stretches the LR schedule to the new length).
EXTENDABLE_KEYS = ("max_steps",)


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The highest ``checkpoint-N`` whose ``trainer_state.json`` (written last by the Trainer) exists."""
    complete = [
        (int(match.group(1)), path)
        for path in folder.glob("checkpoint-*")
        if (match := re.fullmatch(r"checkpoint-(\d+)", path.name))
        and (path / "trainer_state.json").is_file()
    ]
    return max(complete)[1] if complete else None


def _checkpoint_to_resume(
    folder: Path, fingerprint: str, resume: bool, *, may_write: bool = True
) -> Path | None:
    """The checkpoint to resume from, if any; stale checkpoints are moved aside (by the writer only).

    In a multi-process job rank 0 decides first (``may_write``) and the other
    ranks then read the same decision from the folder it left behind.
    """
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
    if not may_write:
        return None
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


class WallClockBudget(TrainerCallback):
    """Stops training once ``seconds`` of training time have passed, after a step, with a final save.

    The stop is a normal end of training: the Trainer saves a checkpoint
    (when saving by steps), evaluates, and loads the best model as configured.
    Time spent before a resume is not counted again.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.stopped_at_step: int | None = None

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ARG002 (TrainerCallback signature)
        self.started = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ARG002
        if time.monotonic() - self.started >= self.seconds and not control.should_training_stop:
            self.stopped_at_step = state.global_step
            control.should_training_stop = True
            control.should_save = args.save_strategy != "no"
            control.should_evaluate = args.eval_strategy != "no"
        return control


def uses_adalora(model: Any) -> bool:
    return any(
        str(getattr(c.peft_type, "value", c.peft_type)) == "ADALORA"
        for c in getattr(model, "peft_config", {}).values()
    )


def fit_model(
    model: PeftModel | PreTrainedModel,
    train_dataset: Dataset,
    eval_dataset: Dataset | None,
    data_collator: Callable,
    *,
    training: dict[str, Any],
    fingerprint_parts: dict[str, Any],
    seq2seq: bool = False,
) -> tuple[PeftModel | PreTrainedModel, dict[str, Any]]:
    """Train ``model`` with ``Trainer`` (``Seq2SeqTrainer`` if ``seq2seq``).

    For a ``PeftModel`` only the adapter's parameters train (PEFT froze the
    rest); a plain model trains all of its parameters.
    ``training`` holds ``output_dir`` (the checkpoint folder), ``resume``,
    ``time_budget_minutes`` (optional: stop after that much training time,
    whatever ``max_steps`` says) and any
    ``TrainingArguments`` / ``Seq2SeqTrainingArguments`` field (``max_steps``,
    ``learning_rate``, ``save_steps``, ``save_total_limit``,
    ``load_best_model_at_end``, ``metric_for_best_model``...). Returns the
    trained model (the best checkpoint's, if so configured) and the training
    log: the Trainer's log history (each step once, also across a resume) and
    where training resumed from.
    """
    folder = Path(training["output_dir"])
    # Everything that makes a checkpoint reusable: data, model, parameters.
    fingerprint = sha256_of_json(
        {
            **fingerprint_parts,
            "training": {k: v for k, v in training.items() if k not in CORE_KEYS + EXTENDABLE_KEYS},
            "train_data": train_dataset._fingerprint,
            "eval_data": eval_dataset._fingerprint if eval_dataset is not None else None,
        }
    )
    arguments_class = Seq2SeqTrainingArguments if seq2seq else TrainingArguments
    arguments = arguments_class(
        output_dir=str(folder),
        **{
            "report_to": [],
            # Evaluation wants the loss only: gathering every logit (sequence x vocabulary)
            # of the eval set costs more time and memory than the forward passes.
            "prediction_loss_only": True,
            "remove_unused_columns": False,
            "label_names": ["labels"],
            # Where the base model was loaded. Without it a job of several CPU
            # processes (torchrun on a machine without GPU) is not run as DDP.
            "use_cpu": training_device() == "cpu",
            # null unsets a setting (an environment removing one of conf/base's).
            **{k: v for k, v in training.items() if k not in CORE_KEYS and v is not None},
        },
    )
    # Under torchrun the arguments have joined the process group by now: the main
    # process sorts out the checkpoint folder while the others wait, then they
    # read its decision (only the main process writes, as the Trainer saves).
    with arguments.main_process_first(desc="checkpoint folder"):
        writer = arguments.process_index == 0
        resume_from = _checkpoint_to_resume(
            folder, fingerprint, bool(training.get("resume", True)), may_write=writer
        )
        if writer:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / FINGERPRINT_FILE).write_text(json.dumps({"fingerprint": fingerprint}))
    logger.info(
        "Training on %s, process %d of world size %d",
        arguments.device,
        arguments.process_index,
        arguments.world_size,
    )
    callbacks: list[TrainerCallback] = []
    if uses_adalora(model):
        callbacks.append(AdaLoraRankAllocation(model))
    budget = None
    if training.get("time_budget_minutes"):
        budget = WallClockBudget(60.0 * float(training["time_budget_minutes"]))
        callbacks.append(budget)
    trainer_class = Seq2SeqTrainer if seq2seq else Trainer
    trainer = trainer_class(
        model=model,
        args=arguments,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=data_collator,
        callbacks=callbacks or None,
    )
    started = time.monotonic()
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    log = {
        "resumed_from": resume_from.name if resume_from else None,
        "global_step": trainer.state.global_step,
        "best_checkpoint": Path(trainer.state.best_model_checkpoint).name
        if trainer.state.best_model_checkpoint
        else None,
        "train_seconds": round(time.monotonic() - started, 1),
        "stopped_by_time_budget": budget is not None and budget.stopped_at_step is not None,
        "log_history": trainer.state.log_history,
    }
    return trainer.model, log
