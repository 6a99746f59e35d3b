"""Incremental runs: skip every node whose outputs exist and were made from the same code, parameters and inputs.

    kedro run --pipelines whisper_zh --runner peft_pipelines.runner.IncrementalRunner
    kedro stale --pipelines whisper_zh          # what that would run, and why

What is fresh is decided from the fingerprints that every run records
(:mod:`peft_pipelines.fingerprints`).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from peft_pipelines.fingerprints import FingerprintRecording, Plan

logger = logging.getLogger(__name__)


def _registered_recording(hook_manager: Any) -> FingerprintRecording | None:
    plugins = hook_manager.get_plugins() if hook_manager is not None else ()
    return next((p for p in plugins if isinstance(p, FingerprintRecording)), None)


class IncrementalRunner(SequentialRunner):
    """A sequential runner that runs only the nodes a change made stale (see the module docstring)."""

    def run(
        self,
        pipeline: Pipeline,
        catalog: Any,
        hook_manager: Any = None,
        run_id: str | None = None,
        only_missing_outputs: bool = False,
    ) -> dict[str, Any]:
        recording = _registered_recording(hook_manager)
        own_recording = None
        if recording is None:  # outside this project's settings: record for this run alone
            recording = own_recording = FingerprintRecording()
            if hook_manager is not None:
                hook_manager.register(own_recording)
        plan = recording.plan_for(pipeline, catalog)
        self.last_plan = plan
        for name, reason in plan.stale.items():
            logger.info("Stale: %s (%s)", name, reason)
        logger.info(
            "Incremental run: %d of %d nodes to run, %d fresh",
            len(plan.stale),
            len(pipeline.nodes),
            len(plan.fresh),
        )
        _tag_mlflow_run(plan)
        try:
            stale = pipeline.filter(node_names=list(plan.stale)) if plan.stale else Pipeline([])
            return super().run(stale, catalog, hook_manager, run_id, only_missing_outputs)
        finally:
            if own_recording is not None and hook_manager is not None:
                hook_manager.unregister(own_recording)


def _tag_mlflow_run(plan: Plan) -> None:
    """Record in the active MLflow run, if any, which nodes ran and which were skipped as fresh."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is None or mlflow.active_run() is None:
        return
    mlflow.set_tags(
        {
            "incremental.ran": ",".join(plan.stale) or "-",
            "incremental.skipped_fresh": ",".join(plan.fresh) or "-",
        }
    )
