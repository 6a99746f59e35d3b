"""Project hooks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline

logger = logging.getLogger(__name__)


class CorpusLocationCheck:
    """Stops a run whose Common Voice corpus folder is missing before any node starts.

    The ingest node raises too, but from inside the runner that arrives under a
    long traceback; a wrong path is a configuration mistake, so it gets one
    line naming the path and the setting to change, and exit status 1.
    """

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        for node in pipeline.nodes:
            if node.name.split(".")[-1] != "ingest_corpus" or not node.namespace:
                continue
            corpus = catalog.load(f"params:{node.namespace}.corpus")
            if corpus.get("source") == "common_voice_release" and not Path(corpus["dir"]).is_dir():
                message = (
                    f"Corpus folder not found: {corpus['dir']}. Point {node.namespace} at a Common Voice "
                    "release folder with `kedro run --params corpus_dir=<path>` "
                    f"(default: {node.namespace}.corpus.dir in conf/base/parameters_{node.namespace}.yml)."
                )
                logger.error(message)
                raise SystemExit(message)
