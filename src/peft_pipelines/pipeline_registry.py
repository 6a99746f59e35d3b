"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# Rebuild a committed asset (the demo base takes ~30 minutes and espeak-ng): run by name only.
BUILD_ONLY = ("whisper_demo_base",)


def register_pipelines() -> dict[str, Pipeline]:
    """Register every pipeline under ``pipelines/`` by its folder name.

    ``__default__`` is the sum of them all except the builders of committed
    assets (``BUILD_ONLY``), so a plain ``kedro run`` runs every product
    pipeline without rebuilding what the repository already ships.
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (pipe for name, pipe in pipelines.items() if name not in BUILD_ONLY), Pipeline([])
    )
    return pipelines
