"""Fitting a model with the Hugging Face Trainer: checkpoints, resume, a time budget, the log history.

One loop for every model the project trains: a PEFT adapter on a frozen
(often 8-bit) base.

Training resumes from the newest whole checkpoint after an interruption, but
only from one made with the same data and parameters (each checkpoint's
manifest carries a fingerprint of both); otherwise it starts afresh, and the
old checkpoints are moved aside only once the new run has saved its first
one (see :mod:`peft_pipelines.training.checkpoints`). A training that had
already finished is not resumed: its model is restored from its checkpoint
without a step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import safetensors.torch
import torch
from datasets import Dataset
from datasets.fingerprint import fingerprint_transform
from peft import PeftModel
from transformers import (
    PreTrainedModel,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    Trainer,
    TrainerCallback,
    TrainerState,
    TrainingArguments,
)
from transformers.trainer_utils import load_sharded_checkpoint

from peft_pipelines.io.model_loading import training_device
from peft_pipelines.io.packaged_files import sha256_of_json
from peft_pipelines.training.checkpoints import (
    CheckpointKeeper,
    CheckpointPlan,
    checkpoint_problem,
    finish_interrupted_start,
    plan_checkpoints,
)

logger = logging.getLogger(__name__)

# Our own keys in the `training` parameters; everything else goes to TrainingArguments.
CORE_KEYS = ("output_dir", "resume", "time_budget_minutes")
# Raising max_steps extends a run rather than starting a new one: its checkpoints
# stay resumable (the Trainer stretches the LR schedule to the new length).
EXTENDABLE_KEYS = ("max_steps",)
TRAINER_STATE_FILE = "trainer_state.json"


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

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ARG002 (TrainerCallback signature)
        if time.monotonic() - self.started >= self.seconds and not control.should_training_stop:
            self.stopped_at_step = state.global_step
            control.should_training_stop = True
            control.should_save = args.save_strategy != "no"
            control.should_evaluate = args.eval_strategy != "no"
        return control


class PeakMemory(TrainerCallback):
    """The peak memory of a training: the accelerator's allocated peak, or on a CPU the process's resident size.

    On a GPU, torch's own peak counter, reset when training begins; on a CPU the
    resident set size sampled at the start and after every step (the peak of
    the process between steps, not of a variant alone in a shared process:
    memory freed by an earlier training is not always returned to the system).
    """

    def __init__(self) -> None:
        self.peak_bytes = 0
        self.kind = "cuda_max_allocated" if torch.cuda.is_available() else "cpu_resident_sampled"

    def _sample(self) -> None:
        if torch.cuda.is_available():
            self.peak_bytes = max(self.peak_bytes, torch.cuda.max_memory_allocated())
        else:
            self.peak_bytes = max(self.peak_bytes, psutil.Process().memory_info().rss)

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ARG002 (TrainerCallback signature)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self._sample()

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ARG002 (TrainerCallback signature)
        self._sample()


def uses_adalora(model: Any) -> bool:
    return any(
        str(getattr(c.peft_type, "value", c.peft_type)) == "ADALORA"
        for c in getattr(model, "peft_config", {}).values()
    )


# datasets' public fingerprint_transform derives a transform's fingerprint from the data's
# own (which a saved dataset keeps in its folder, and map, select... carry along): the same
# data in a copied project gets the same one. It also names this function: renaming or
# moving it changes every run's fingerprint, and checkpoints saved before do not resume.
@fingerprint_transform(inplace=False)
def training_data_fingerprint(dataset: Dataset, new_fingerprint: str | None = None) -> str | None:
    """datasets' fingerprint of ``dataset`` as a training run reads it: the same data, the same string."""
    return new_fingerprint


def run_fingerprint(
    training: dict[str, Any],
    fingerprint_parts: dict[str, Any],
    train_dataset: Dataset,
    eval_dataset: Dataset | None,
) -> str:
    """Everything that makes a checkpoint reusable: data, model, parameters (``max_steps`` aside)."""
    return sha256_of_json(
        {
            **fingerprint_parts,
            "training": {k: v for k, v in training.items() if k not in CORE_KEYS + EXTENDABLE_KEYS},
            "train_data": training_data_fingerprint(train_dataset),
            "eval_data": training_data_fingerprint(eval_dataset)
            if eval_dataset is not None
            else None,
        }
    )


def training_arguments(
    training: dict[str, Any], folder: Path, *, seq2seq: bool
) -> TrainingArguments:
    """The Trainer's arguments from the ``training`` parameters (which they validate) and our defaults."""
    arguments_class = Seq2SeqTrainingArguments if seq2seq else TrainingArguments
    return arguments_class(
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


def finished_state(checkpoint: Path, arguments: TrainingArguments) -> TrainerState | None:
    """The Trainer state saved in ``checkpoint`` if its training had already reached its last step.

    Resuming such a checkpoint would not be a no-op: when ``max_steps`` ends
    mid-epoch the Trainer runs the rest of that epoch's first step, one past
    ``max_steps``.
    """
    state = TrainerState.load_from_json(str(checkpoint / TRAINER_STATE_FILE))
    last_step = arguments.max_steps if arguments.max_steps > 0 else state.max_steps
    return state if state.global_step >= last_step else None


def load_checkpoint_weights(model: PeftModel | PreTrainedModel, checkpoint: Path) -> None:
    """Load the weights the Trainer saved in ``checkpoint`` into ``model``: the adapter, or the whole model."""
    if isinstance(model, PeftModel):
        model.load_adapter(str(checkpoint), adapter_name=model.active_adapter, is_trainable=True)
    elif (checkpoint / "model.safetensors").is_file():
        weights = safetensors.torch.load_file(str(checkpoint / "model.safetensors"))
        model.load_state_dict(weights, strict=False)  # tied weights are saved once
    else:
        load_sharded_checkpoint(model, str(checkpoint), strict=False)


def restore_finished_training(
    model: PeftModel | PreTrainedModel,
    plan: CheckpointPlan,
    state: TrainerState,
    arguments: TrainingArguments,
    fingerprint: str,
) -> Path:
    """Give ``model`` the weights the finished run ended with: its best checkpoint's if so configured."""
    source = plan.resume_from
    best = Path(state.best_model_checkpoint).name if state.best_model_checkpoint else None
    if arguments.load_best_model_at_end and best:
        problem = checkpoint_problem(plan.folder / best, fingerprint)
        if problem is None:
            source = plan.folder / best
        else:
            logger.warning("Not loading the best checkpoint %s: %s", plan.folder / best, problem)
    logger.info(
        "Training had already finished (step %d in %s): no step to run; the model is %s's",
        state.global_step,
        plan.resume_from,
        source.name,
    )
    load_checkpoint_weights(model, source)
    return source


def _callbacks(
    model: PeftModel | PreTrainedModel,
    keeper: CheckpointKeeper,
    budget: WallClockBudget | None,
    memory: PeakMemory,
) -> list[TrainerCallback]:
    callbacks: list[TrainerCallback] = [keeper, memory]
    if uses_adalora(model):
        callbacks.append(AdaLoraRankAllocation(model))
    if budget is not None:
        callbacks.append(budget)
    return callbacks


def _training_log(
    state: TrainerState,
    resumed_from: Path | None,
    seconds: float,
    budget: WallClockBudget | None,
    memory: PeakMemory | None = None,
) -> dict[str, Any]:
    """The log of a training: where it resumed, its steps, its time and peak memory, the Trainer's history.

    ``steps_run`` counts the steps of this run only (after a resume, those
    before it are not), and ``seconds_per_step`` is this run's time over them
    (None when no step ran: a finished training restored).
    """
    first_step = _checkpoint_step(resumed_from)
    steps_run = max(state.global_step - first_step, 0) if seconds > 0 else 0
    return {
        "resumed_from": resumed_from.name if resumed_from else None,
        "global_step": state.global_step,
        "steps_run": steps_run,
        "seconds_per_step": round(seconds / steps_run, 4) if steps_run else None,
        "peak_memory_bytes": memory.peak_bytes if memory else None,
        "peak_memory_kind": memory.kind if memory else None,
        "best_checkpoint": Path(state.best_model_checkpoint).name
        if state.best_model_checkpoint
        else None,
        "train_seconds": round(seconds, 1),
        "stopped_by_time_budget": budget is not None and budget.stopped_at_step is not None,
        "log_history": state.log_history,
    }


def _checkpoint_step(checkpoint: Path | None) -> int:
    """The step a ``checkpoint-<step>`` folder was saved at; 0 for none."""
    if checkpoint is None:
        return 0
    step = checkpoint.name.rpartition("-")[2]
    return int(step) if step.isdigit() else 0


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
    """Train ``model`` with ``Trainer`` (``Seq2SeqTrainer`` if ``seq2seq``); return it and the training log.

    For a ``PeftModel`` only the adapter's parameters train. ``training`` holds
    ``output_dir`` (the checkpoint folder), ``resume``, ``time_budget_minutes``
    (optional: stop after that much training time) and any
    ``(Seq2Seq)TrainingArguments`` field. The model returned is the best
    checkpoint's, if so configured; the log holds the Trainer's log history
    (each step once, also across a resume) and where training resumed from.
    """
    folder = Path(training["output_dir"])
    fingerprint = run_fingerprint(training, fingerprint_parts, train_dataset, eval_dataset)
    arguments = training_arguments(training, folder, seq2seq=seq2seq)
    # Under torchrun the arguments have joined the process group by now: the main
    # process tidies the folder first, then every process reads the same decision.
    with arguments.main_process_first(desc="checkpoint folder"):
        if arguments.should_save:
            finish_interrupted_start(folder)
        plan = plan_checkpoints(folder, fingerprint, bool(training.get("resume", True)))
    logger.info(
        "Training on %s, process %d of world size %d",
        arguments.device,
        arguments.process_index,
        arguments.world_size,
    )
    if plan.resume_from and (done := finished_state(plan.resume_from, arguments)):
        restore_finished_training(model, plan, done, arguments, fingerprint)
        return model, _training_log(done, plan.resume_from, 0.0, None)
    arguments.output_dir = str(plan.train_into)
    keeper = CheckpointKeeper(plan, fingerprint)
    minutes = training.get("time_budget_minutes")
    budget = WallClockBudget(60.0 * float(minutes)) if minutes else None
    memory = PeakMemory()
    trainer = (Seq2SeqTrainer if seq2seq else Trainer)(
        model=model,
        args=arguments,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=data_collator,
        callbacks=_callbacks(model, keeper, budget, memory),
    )
    started = time.monotonic()
    try:
        trainer.train(resume_from_checkpoint=str(plan.resume_from) if plan.resume_from else None)
    except BaseException:
        keeper.drop_unfinished_start(arguments.should_save)
        raise
    return trainer.model, _training_log(
        trainer.state, plan.resume_from, time.monotonic() - started, budget, memory
    )
