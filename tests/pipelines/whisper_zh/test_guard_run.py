"""A whisper_zh run with guard recordings (--params guard_dir=...): figures, drops, the end line, MLflow, reruns."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from peft_pipelines.hooks import UnreadableInputError
from peft_pipelines.runner import IncrementalRunner
from tests.scratch_project import copy_project, run_pipeline
from tests.support import GUARD_DROPS, make_guard_folder

pytestmark = pytest.mark.slow

REPORTS = Path("data/08_reporting/whisper_zh")
TAGS = ["data", "model"]  # the export stages do not read the guard


def _metrics(project: Path) -> dict:
    return json.loads((project / REPORTS / "metrics.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def guarded_run(tmp_path_factory, quick_whisper_catalog, quick_whisper_run) -> dict:
    """One tracked data+model run with a guard folder of audio files beside `text`, and its end-of-run output."""
    root = tmp_path_factory.mktemp("guarded")
    (root / "project").mkdir()
    project = copy_project(root / "project", tracked=True, catalog=quick_whisper_catalog)
    guard = make_guard_folder(root / "files", "files")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run_pipeline(
            project,
            "whisper_zh",
            {**quick_whisper_run, "guard_dir": str(guard)},
            tags=TAGS,
            runner=IncrementalRunner(),
        )
    return {
        "project": project,
        "guard": guard,
        "root": root,
        "params": quick_whisper_run,
        "metrics": _metrics(project),
        "predictions": pd.read_csv(project / REPORTS / "predictions.csv"),
        "printed": printed.getvalue(),
    }


def test_the_guard_is_scored_its_bad_entries_counted_and_the_run_says_so(guarded_run):
    project, guard = guarded_run["project"], guarded_run["guard"]
    report = guarded_run["metrics"]["guard"]
    assert report["set"] is True and report["folder"] == str(guard)
    for side in ("base", "finetuned"):
        assert report[side]["n"] == 3 and report[side]["cer"] >= 0 and report[side]["wer"] >= 0
    assert report["dropped"] == GUARD_DROPS["files"]
    assert report["tolerance"] == 0.02 and isinstance(report["regressed"], bool)
    assert report["regressed"] == (report["finetuned"]["cer"] > report["base"]["cer"] + 0.02)
    predictions = guarded_run["predictions"]
    guard_rows = predictions[predictions["set"] == "guard"]
    assert list(guard_rows["path"]) == ["g1", "g2", "g3"]
    assert guard_rows["reference"].iloc[0] == "今天晚上月亮很圆"
    printed = guarded_run["printed"].splitlines()
    (line,) = [text for text in printed if text.startswith("whisper_zh: ")]
    base, tuned = report["base"]["cer"], report["finetuned"]["cer"]
    assert (
        f"guard: CER base {base:.2f} -> fine-tuned {tuned:.2f} ({report['verdict']}), n=3, "
        "4 dropped"
    ) in line

    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("peft_pipelines").experiment_id
    run = client.search_runs([experiment], order_by=["attributes.start_time ASC"])[0]
    assert run.data.tags["whisper_zh.guard_regressed"] == str(report["regressed"]).lower()
    assert run.data.tags["whisper_zh.adapter"]  # the adapter version the verdict is about
    assert run.data.metrics["whisper_zh.guard.finetuned.cer"] == pytest.approx(tuned)
    assert run.data.metrics["whisper_zh.guard.dropped.no_audio"] == 1


def _rerun_with_guard(guarded_run: dict, guard: Path) -> set[str]:
    """The nodes the incremental runner found stale in a run with ``guard`` as guard_dir."""
    runner = IncrementalRunner()
    run_pipeline(
        guarded_run["project"],
        "whisper_zh",
        {**guarded_run["params"], "guard_dir": str(guard)},
        tags=TAGS,
        runner=runner,
    )
    return set(runner.last_plan.stale)


def test_another_guard_folder_reruns_only_the_evaluation(guarded_run):
    project = guarded_run["project"]
    scp_guard = make_guard_folder(guarded_run["root"] / "scp", "wav.scp")
    assert _rerun_with_guard(guarded_run, scp_guard) == {"whisper_zh.evaluate_transcription"}
    report = _metrics(project)["guard"]
    assert report["folder"] == str(scp_guard) and report["base"]["n"] == 3
    assert report["dropped"] == GUARD_DROPS["wav.scp"]

    # An edited recording outside the folder (named by its wav.scp) counts as a change too.
    outside = guarded_run["root"] / "scp" / "elsewhere" / "g3.flac"
    outside.write_bytes((scp_guard / "audio" / "g2.wav").read_bytes())
    assert _rerun_with_guard(guarded_run, scp_guard) == {"whisper_zh.evaluate_transcription"}


def test_without_a_guard_metrics_say_none_was_set(guarded_run):
    project = guarded_run["project"]
    runner = IncrementalRunner()
    run_pipeline(project, "whisper_zh", guarded_run["params"], tags=TAGS, runner=runner)
    assert set(runner.last_plan.stale) == {"whisper_zh.evaluate_transcription"}
    assert _metrics(project)["guard"] == {
        "set": False,
        "note": "no guard set: kedro run --pipelines whisper_zh --params guard_dir=<folder> "
        "(README, 'Checking for forgetting: guard recordings')",
    }
    predictions = pd.read_csv(project / REPORTS / "predictions.csv")
    assert "guard" not in set(predictions["set"])


def test_a_missing_guard_folder_stops_the_run_with_one_line_before_any_node(scratch_project):
    missing = scratch_project / "nowhere"
    with pytest.raises(UnreadableInputError) as stopped:
        run_pipeline(scratch_project, "whisper_zh", {"guard_dir": str(missing)})
    assert str(stopped.value).startswith(
        f"whisper_zh.guard_recordings: Guard folder not found: {missing}. A guard folder holds"
    )
    assert not (scratch_project / "data/02_intermediate").exists()
