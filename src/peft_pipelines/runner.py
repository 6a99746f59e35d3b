"""Incremental runs: skip every node whose outputs exist and were made from the same code, parameters and inputs.

    kedro run --pipelines whisper_zh --runner peft_pipelines.runner.IncrementalRunner
    kedro stale --pipelines whisper_zh          # what that would run, and why

What is fresh is decided from the fingerprints that every run records
(:mod:`peft_pipelines.fingerprints`). Once it has chosen, the runner calls
the project hook ``incremental_run_planned`` (:class:`IncrementalRunSpecs`)
through the run's hook manager: the tracking hook records the choice in the
MLflow run it owns.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks.markers import hook_spec
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from peft_pipelines.fingerprints import FingerprintRecording, Plan

logger = logging.getLogger(__name__)


class IncrementalRunSpecs:
    """The hook an incremental run calls: added to the run's hook manager (pluggy's ``add_hookspecs``)."""

    @hook_spec
    def incremental_run_planned(self, plan: Plan) -> None:
        """Called once the runner has chosen, before any node runs: ``plan.stale`` run, ``plan.fresh`` are skipped."""


def _announce(hook_manager: Any, plan: Plan) -> None:
    """Tell the project's hooks what this run runs and skips (each hook implements what it needs)."""
    if hook_manager is None:
        return
    caller = getattr(hook_manager.hook, "incremental_run_planned", None)
    if caller is None or not caller.has_spec():
        hook_manager.add_hookspecs(IncrementalRunSpecs)
    hook_manager.hook.incremental_run_planned(plan=plan)


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
        _announce(hook_manager, plan)
        try:
            stale = pipeline.filter(node_names=list(plan.stale)) if plan.stale else Pipeline([])
            return super().run(stale, catalog, hook_manager, run_id, only_missing_outputs)
        finally:
            if own_recording is not None and hook_manager is not None:
                hook_manager.unregister(own_recording)
