"""Fingerprints from every run: a plain ``kedro run`` leaves incremental mode warm; broken records cost a rerun."""

from __future__ import annotations

import copy
import json
import logging
import os
import re
from pathlib import Path

import pytest
from kedro.pipeline.node import Node

import peft_pipelines.fingerprints as fingerprints_module
from peft_pipelines.cli import stale_lines
from peft_pipelines.fingerprints import files_signature
from peft_pipelines.runner import IncrementalRunner
from tests.scratch_project import PROJECT_ROOT, copy_project, kedro_cli, run_pipeline
from tests.support import QUICK_WHISPER_RUN

pytestmark = pytest.mark.slow

RECORDS = Path("data/.fingerprints")
WHISPER_NODES = (
    19  # 13 + the export stages (merge, export, base export, parity, its record, its stop)
)


@pytest.fixture(scope="module")
def project(tmp_path_factory, quick_whisper_catalog) -> Path:
    """A scratch project after one plain ``kedro run`` (Kedro's SequentialRunner) of whisper_zh."""
    project = copy_project(tmp_path_factory.mktemp("plain"), catalog=quick_whisper_catalog)
    run_pipeline(project, "whisper_zh", QUICK_WHISPER_RUN)
    return project


def _stale(project: Path, params: dict = QUICK_WHISPER_RUN) -> list[str]:
    cwd = os.getcwd()
    os.chdir(project)
    try:
        return stale_lines(["whisper_zh"], None, params)
    finally:
        os.chdir(cwd)


def _incremental_run(project: Path) -> set[str]:
    runner = IncrementalRunner()
    run_pipeline(project, "whisper_zh", QUICK_WHISPER_RUN, runner=runner)
    return set(runner.last_plan.stale)


def test_after_a_plain_run_nothing_is_stale_and_an_incremental_run_runs_nothing(
    project, monkeypatch
):
    listing = _stale(project)
    assert listing[-1] == f"0 of {WHISPER_NODES} nodes would run", "\n".join(listing)

    # A plain run of part of the pipeline records what a whole-pipeline plan expects.
    run_pipeline(project, "whisper_zh", QUICK_WHISPER_RUN, tags=["report"])
    listing = _stale(project)
    assert listing[-1] == f"0 of {WHISPER_NODES} nodes would run", "\n".join(listing)

    plans = []
    plan_run = fingerprints_module.plan_run
    monkeypatch.setattr(fingerprints_module, "plan_run", lambda *a: plans.append(a) or plan_run(*a))
    assert _incremental_run(project) == set()
    assert len(plans) == 1  # the runner chose from the recording hook's plan, not a second one


def test_a_node_that_fails_records_nothing(project, monkeypatch):
    metrics_record = project / RECORDS / "whisper_zh.metrics.json"
    recorded = metrics_record.read_bytes()
    run_node = Node.run

    def evaluation_fails(self, inputs=None):
        if self.name == "whisper_zh.evaluate_transcription":
            raise RuntimeError("the evaluation failed")
        return run_node(self, inputs)

    monkeypatch.setattr(Node, "run", evaluation_fails)
    changed = copy.deepcopy(QUICK_WHISPER_RUN)
    changed["whisper_zh"]["evaluation"]["max_new_tokens"] = 6
    with pytest.raises(RuntimeError, match="the evaluation failed"):
        run_pipeline(
            project, "whisper_zh", changed, node_names=["whisper_zh.evaluate_transcription"]
        )
    assert metrics_record.read_bytes() == recorded
    assert (
        "run    whisper_zh.evaluate_transcription: parameter params:whisper_zh.evaluation changed"
        in _stale(project, changed)
    )


def test_an_unreadable_record_or_cache_counts_as_missing_with_a_warning(
    project, monkeypatch, caplog
):
    records = project / RECORDS
    truncated = records / "whisper_zh.error_rates_plot.json"
    truncated.write_bytes(truncated.read_bytes()[:40])
    misshapen = records / "whisper_zh.loss_curve_plot.json"
    misshapen.write_text(json.dumps({"fingerprint": "0" * 64}))
    cache = records / "raw_content_cache.json"
    cached = json.loads(cache.read_text())
    cache.write_bytes(b"\xff\x00 not a cache")
    written = []
    write = fingerprints_module._write_json_atomically
    monkeypatch.setattr(
        fingerprints_module,
        "_write_json_atomically",
        lambda p, v: written.append(p.name) or write(p, v),
    )

    with caplog.at_level(logging.WARNING, logger="peft_pipelines.fingerprints"):
        ran = _incremental_run(project)
    assert ran == {"whisper_zh.plot_error_rates", "whisper_zh.plot_loss_curve"}
    warnings = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    for broken in (truncated, misshapen, cache):
        assert str(Path(RECORDS, broken.name)) in warnings, warnings
    # One record per rerun output, written once; the cache rebuilt with the same hashes.
    assert sorted(written) == sorted([truncated.name, misshapen.name, cache.name])
    assert json.loads(cache.read_text()) == cached
    assert _stale(project)[-1] == f"0 of {WHISPER_NODES} nodes would run"


def test_make_runs_command_after_a_plain_kedro_run_runs_no_node(tmp_path, sample_corpus_catalog):
    project = copy_project(tmp_path, catalog=sample_corpus_catalog)
    data_stages = ("--to-nodes", "whisper_zh.report_data_quality,whisper_zh.join_long_utterances")
    plain = kedro_cli(project, "run", "--pipelines", "whisper_zh", *data_stages)
    assert plain.returncode == 0, plain.stderr[-3000:]

    listing = kedro_cli(project, "stale", "--pipelines", "whisper_zh")
    assert listing.returncode == 0, listing.stderr[-3000:]
    for node in ("ingest_corpus", "audio_features.resample_to_16k", "report_data_quality"):
        assert f"fresh  whisper_zh.{node}" in listing.stdout, listing.stdout
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    make_run = re.search(r"^run:.*\n\t\$\(BIN\)/kedro (.+)$", makefile, re.MULTILINE)
    assert make_run, "the Makefile's run target is one kedro command"
    written = _outputs_signature(project)
    again = kedro_cli(
        project, *make_run.group(1).split(), "--pipelines", "whisper_zh", *data_stages
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert _outputs_signature(project) == written  # no node ran: no output, no record rewritten


def _outputs_signature(project: Path) -> dict[str, list]:
    folders = [f for f in (project / "data").iterdir() if f.name != "01_raw"]
    return {folder.name: files_signature(folder) for folder in folders}
