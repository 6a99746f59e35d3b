"""A training run's checkpoint folder: which checkpoint is whole, which to resume, when old ones go.

After the Trainer saves a checkpoint, a manifest (``checkpoint_manifest.json``)
is written into it: the fingerprint of the run (data and parameters) and the
size and SHA-256 of every file. A checkpoint is resumed only if its manifest
names the run's fingerprint and every file still matches it; one cut short
(``optimizer.pt`` truncated by a full disk or a bad copy, a save killed before
its manifest) is passed over with a warning naming it, and training resumes
from the newest whole one.

Checkpoints that cannot be resumed (other data or parameters, resume off,
none whole) stay where they are until the new run has saved its own first
checkpoint: until then it trains into ``<folder>.new``. At that first save the
old ones become ``<folder>.stale`` (replacing an older one) and ``<folder>.new``
takes their place. So a run that fails or is killed before it has a checkpoint
of its own (a parameter the optimizer rejects, a data error) leaves the folder
and its ``.stale`` exactly as they were.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from accelerate import PartialState
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from peft_pipelines.io.atomic_files import write_text_atomically
from peft_pipelines.io.packaged_files import sha256_of_file

logger = logging.getLogger(__name__)

MANIFEST_FILE = "checkpoint_manifest.json"
_CHECKPOINT_NAME = re.compile(rf"{PREFIX_CHECKPOINT_DIR}-(\d+)")


def fresh_start_folder(folder: Path) -> Path:
    """Where a run that cannot resume trains until its first checkpoint replaces the old ones."""
    return folder.with_name(folder.name + ".new")


def stale_folder(folder: Path) -> Path:
    """Where the checkpoints a run could not resume from end up, once it has saved its own."""
    return folder.with_name(folder.name + ".stale")


def record_checkpoint(checkpoint: Path, fingerprint: str) -> None:
    """Write ``checkpoint``'s manifest: the run's fingerprint, each file's size and SHA-256."""
    files = {
        path.relative_to(checkpoint).as_posix(): {
            "bytes": path.stat().st_size,
            "sha256": sha256_of_file(path),
        }
        for path in sorted(checkpoint.rglob("*"))
        # Hidden files are a killed manifest write's leftovers, never the Trainer's.
        if path.is_file() and path.name != MANIFEST_FILE and not path.name.startswith(".")
    }
    manifest = {"fingerprint": fingerprint, "files": files}
    write_text_atomically(checkpoint / MANIFEST_FILE, json.dumps(manifest, indent=1))


def checkpoint_problem(checkpoint: Path, fingerprint: str) -> str | None:
    """Why the run ``fingerprint`` cannot resume from ``checkpoint``; None if it can."""
    try:
        manifest = json.loads((checkpoint / MANIFEST_FILE).read_text())
        recorded, files = manifest["fingerprint"], dict(manifest["files"])
    except FileNotFoundError:
        return f"it has no {MANIFEST_FILE} (its save did not finish)"
    except (ValueError, KeyError, TypeError):
        return f"its {MANIFEST_FILE} is unreadable"
    if recorded != fingerprint:
        return "it was made with other data or parameters"
    problems = (_file_problem(checkpoint / name, saved) for name, saved in files.items())
    return next((problem for problem in problems if problem), None)


def _file_problem(path: Path, saved: dict) -> str | None:
    if not path.is_file():
        return f"{path} is missing"
    if (size := path.stat().st_size) != saved["bytes"]:
        return f"{path} is torn: {size} bytes, {saved['bytes']} when saved"
    if sha256_of_file(path) != saved["sha256"]:
        return f"{path} has changed since it was saved"
    return None


@dataclass(frozen=True)
class CheckpointPlan:
    """Where a run's checkpoints go and what it resumes from.

    ``train_into`` is ``folder`` itself, or its ``.new`` sibling while
    ``folder`` still holds checkpoints the run cannot resume from.
    """

    folder: Path
    train_into: Path
    resume_from: Path | None = None

    @property
    def replaces_old_checkpoints(self) -> bool:
        return self.train_into != self.folder


def plan_checkpoints(folder: Path, fingerprint: str, resume: bool) -> CheckpointPlan:
    """Decide from ``folder`` alone, moving nothing: resume from its newest whole checkpoint, or start afresh."""
    found = sorted(
        (int(match.group(1)), path)
        for path in (folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*") if folder.is_dir() else [])
        if (match := _CHECKPOINT_NAME.fullmatch(path.name)) and path.is_dir()
    )
    if not found:
        return CheckpointPlan(folder, folder)
    fresh = CheckpointPlan(folder, fresh_start_folder(folder))
    if not resume:
        logger.warning(
            "Not resuming from the checkpoints in %s: resume is off in the training parameters. "
            "Training afresh; they move to %s once the new run has saved its first checkpoint",
            folder,
            stale_folder(folder),
        )
        return fresh
    for _, checkpoint in reversed(found):
        problem = checkpoint_problem(checkpoint, fingerprint)
        if problem is None:
            logger.info("Resuming training from %s (same data and parameters)", checkpoint)
            return CheckpointPlan(folder, folder, resume_from=checkpoint)
        logger.warning("Not resuming from %s: %s", checkpoint, problem)
    logger.warning(
        "No checkpoint in %s can be resumed: training afresh; they move to %s once the new run "
        "has saved its first checkpoint",
        folder,
        stale_folder(folder),
    )
    return fresh


def finish_interrupted_start(folder: Path) -> None:
    """Sort out a ``.new`` folder left by a run killed before (or while) its checkpoints replaced the old."""
    fresh = fresh_start_folder(folder)
    if not fresh.is_dir():
        return
    if folder.exists():
        logger.warning("Removing %s, left by a run stopped before its first checkpoint", fresh)
        shutil.rmtree(fresh)
    else:  # killed between the two renames of the replacement: finish it
        fresh.rename(folder)


class CheckpointKeeper(TrainerCallback):
    """Writes each checkpoint's manifest; at a fresh start's first save, moves the old checkpoints aside.

    Every process takes part (they wait for each other, so the manifest lists
    each rank's random-number state); only the one that saves (``args.should_save``)
    writes.
    """

    def __init__(self, plan: CheckpointPlan, fingerprint: str) -> None:
        self.plan = plan
        self.fingerprint = fingerprint
        self.pending_replacement = plan.replaces_old_checkpoints

    def on_save(self, args, state, control, **kwargs):  # noqa: ARG002 (TrainerCallback signature)
        processes = PartialState()
        processes.wait_for_everyone()
        # From here a failure leaves `.new` to the next run's tidying, never removed mid-rename.
        replacing, self.pending_replacement = self.pending_replacement, False
        if args.should_save:
            checkpoint = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            record_checkpoint(checkpoint, self.fingerprint)
            if replacing:
                self._replace_old_checkpoints()
        processes.wait_for_everyone()
        if replacing:
            args.output_dir = str(self.plan.folder)  # the Trainer reads it at each save
            if state.best_model_checkpoint:
                best = Path(state.best_model_checkpoint).name
                state.best_model_checkpoint = str(self.plan.folder / best)

    def _replace_old_checkpoints(self) -> None:
        folder, stale = self.plan.folder, stale_folder(self.plan.folder)
        shutil.rmtree(stale, ignore_errors=True)
        folder.rename(stale)
        self.plan.train_into.rename(folder)
        logger.warning(
            "The new run has saved its first checkpoint: moved the checkpoints it could not "
            "resume from to %s",
            stale,
        )

    def drop_unfinished_start(self, writer: bool) -> None:
        """After a failure before the first save: remove the ``.new`` folder, so nothing has changed."""
        if self.pending_replacement and writer:
            shutil.rmtree(self.plan.train_into, ignore_errors=True)
