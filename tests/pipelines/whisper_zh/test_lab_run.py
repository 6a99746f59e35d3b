"""whisper_zh_lab on the tiny random Whisper: two variants on the data stages run once, compared, rerun alone."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from peft_pipelines.errors import ConfigurationError
from peft_pipelines.runner import IncrementalRunner
from tests.scratch_project import copy_project, run_pipeline
from tests.support import (
    QUICK_WHISPER_CATALOG,
    QUICK_WHISPER_RUN,
    lab_parameters,
    make_guard_folder,
)

pytestmark = pytest.mark.slow

LAB = Path("data/08_reporting/peft_lab/whisper_zh")
DATA_NODES = {
    "whisper_zh.ingest_corpus",
    "whisper_zh.prune_columns",
    "whisper_zh.read_input_window",
    "whisper_zh.audio_features.resample_to_16k",
    "whisper_zh.audio_features.extract_features_and_labels",
    "whisper_zh.join_long_utterances",
    "whisper_zh.report_data_quality",
    "whisper_zh.describe_base_model",
}
VARIANT_NODES = {
    "resolve_variant_settings",
    "add_peft_adapter",
    "train_adapter",
    "evaluate_transcription",
}
COMPARISON_NODES = {"whisper_zh_lab.compare_variants", "whisper_zh_lab.plot_comparison"}
# Two LoRA variants: rank 2 on the encoder and decoder, and the pipeline's own (QUICK_WHISPER_RUN's).
VARIANTS = {"rank2": {"peft": {"r": 2}}, "own": {}}


def _variant_nodes(name: str) -> set[str]:
    return {f"whisper_zh_lab.{name}.{node}" for node in VARIANT_NODES}


def _run(project: Path, params: dict) -> set[str]:
    runner = IncrementalRunner()
    run_pipeline(project, "whisper_zh_lab", params, runner=runner)
    return set(runner.last_plan.stale)


@pytest.fixture(scope="module")
def lab_project(tmp_path_factory) -> Path:
    return copy_project(
        tmp_path_factory.mktemp("whisper_lab"),
        catalog=QUICK_WHISPER_CATALOG,
        parameters=lab_parameters("whisper_zh", VARIANTS),
    )


@pytest.fixture(scope="module")
def guarded_params(tmp_path_factory) -> dict:
    """QUICK_WHISPER_RUN with guard recordings: they must reach every variant."""
    guard = make_guard_folder(tmp_path_factory.mktemp("guard"), "files")
    return {**copy.deepcopy(QUICK_WHISPER_RUN), "guard_dir": str(guard)}


@pytest.fixture(scope="module")
def first_run(lab_project, guarded_params) -> set[str]:
    return _run(lab_project, guarded_params)


def test_the_lab_runs_the_data_stages_once_and_each_variant_writes_its_own_outputs(
    lab_project, first_run
):
    assert (
        first_run == DATA_NODES | _variant_nodes("rank2") | _variant_nodes("own") | COMPARISON_NODES
    )
    assert (lab_project / "data/04_feature/whisper_zh/features").is_dir()
    for name in VARIANTS:
        reports = lab_project / LAB / name
        for report in ("metrics.json", "training_log.json", "peft_summary.json", "predictions.csv"):
            assert (reports / report).is_file(), (name, report)
        (adapter,) = (lab_project / f"data/06_models/peft_lab/whisper_zh/{name}/adapter").glob(
            "*/adapter"
        )
        assert (adapter / "adapter_config.json").is_file()
        settings = json.loads(
            (
                lab_project / f"data/05_model_input/peft_lab/whisper_zh/{name}/training.json"
            ).read_text()
        )
        assert settings["max_steps"] == 2
        assert settings["output_dir"] == f"data/06_models/peft_lab/whisper_zh/{name}/checkpoints"
        assert any((lab_project / settings["output_dir"]).glob("checkpoint-*"))
    ranks = {
        name: json.loads((lab_project / LAB / name / "peft_summary.json").read_text())[
            "peft_config"
        ]["r"]
        for name in VARIANTS
    }
    assert ranks == {"rank2": 2, "own": 4}


def test_the_comparison_has_one_row_per_variant_with_every_field(lab_project, first_run):
    assert first_run
    table = json.loads((lab_project / LAB / "comparison.json").read_text())
    rows = {row["variant"]: row for row in table["variants"]}
    assert set(rows) == set(VARIANTS)
    for row in rows.values():
        assert row["method"] == "LORA" and row["steps"] == 2
        for field in (
            "trainable_parameters",
            "total_parameters",
            "adapter_bytes",
            "seconds_per_step",
            "peak_memory_bytes",
            "train_seconds",
        ):
            assert isinstance(row[field], int | float) and row[field] > 0, field
        for figure in ("test_cer", "test_wer", "long_cer", "long_wer"):
            assert isinstance(row["metrics"][figure], float), figure
        assert isinstance(row["metrics"]["guard_cer"], float)  # the guard reaches every variant
        # float32 LoRA A and B: 4 bytes per trainable parameter.
        assert row["adapter_bytes"] == 4 * row["trainable_parameters"]
    assert rows["rank2"]["trainable_parameters"] * 2 == rows["own"]["trainable_parameters"]
    assert table["best"]["trainable_parameters"] == ["rank2"]
    assert set(table["base"]) >= {"test_cer", "long_cer"} and table["base_model_random"] is True
    markdown = (lab_project / LAB / "comparison.md").read_text()
    assert "| rank2 | LORA |" in markdown and "base (adapter off)" in markdown
    assert "random" in markdown
    assert (lab_project / LAB / "comparison.png").read_bytes().startswith(b"\x89PNG")


def test_changing_one_variant_reruns_only_that_variant_and_the_comparison(
    lab_project, first_run, guarded_params
):
    assert first_run
    assert _run(lab_project, guarded_params) == set()
    changed = copy.deepcopy(guarded_params)
    changed["peft_lab"] = {"whisper_zh": {"variants": {"rank2": {"peft": {"r": 3}}}}}
    assert _run(lab_project, changed) == _variant_nodes("rank2") | COMPARISON_NODES
    table = json.loads((lab_project / LAB / "comparison.json").read_text())
    assert {row["variant"]: row["settings"]["r"] for row in table["variants"]} == {
        "rank2": 3,
        "own": 4,
    }


def test_a_prompt_learning_variant_for_whisper_is_refused_in_one_line(lab_project):
    params = copy.deepcopy(QUICK_WHISPER_RUN)
    params["peft_lab"] = {
        "whisper_zh": {"variants": {"own": {"peft": {"peft_type": "PROMPT_TUNING"}}}}
    }
    with pytest.raises(ConfigurationError) as refused:
        run_pipeline(lab_project, "whisper_zh_lab", params)
    message = str(refused.value)
    assert message == (
        "peft_lab.whisper_zh.variants.own.peft.peft_type: PROMPT_TUNING is prompt learning, "
        "which peft feeds to the model as input_ids; Whisper's encoder takes input_features, "
        "so no prompt-learning method is offered for whisper_zh"
    )


def test_every_default_variant_trains_saves_and_reloads_on_the_tiny_whisper(tmp_path):
    from peft_pipelines.io.model_datasets import load_adapter  # noqa: PLC0415 (loads torch)

    # conf/base's variants as they are; only the steps and the run's size are cut.
    project = copy_project(
        tmp_path, catalog=QUICK_WHISPER_CATALOG, parameters={"peft_lab": {"max_steps": 1}}
    )
    quick = copy.deepcopy(QUICK_WHISPER_RUN)
    del quick["whisper_zh"]["peft"]  # the pipeline's own: LoRA on the encoder
    run_pipeline(project, "whisper_zh_lab", quick)
    table = json.loads((project / LAB / "comparison.json").read_text())
    methods = {row["variant"]: row["method"] for row in table["variants"]}
    assert methods == {
        "seed_lora": "LORA",
        "encoder_lora_alpha64": "LORA",
        "encoder_lora": "LORA",
        "dora": "LORA+DoRA",
        "adalora": "ADALORA",
        "ia3": "IA3",
        "oft": "OFT",
    }
    for row in table["variants"]:
        assert row["steps"] == 1 and row["adapter_bytes"] > 0, row["variant"]
        assert isinstance(row["metrics"]["test_cer"], float), row["variant"]
        (folder,) = (project / f"data/06_models/peft_lab/whisper_zh/{row['variant']}/adapter").glob(
            "*/adapter"
        )
        reloaded = load_adapter(folder)
        assert reloaded.peft_config["default"].peft_type.value == row["method"].split("+")[0]


def test_a_variant_evaluates_on_every_input_the_pipeline_evaluates_on():
    from peft_pipelines.pipelines.whisper_zh.pipeline import (  # noqa: PLC0415
        create_lab_pipeline,
        create_pipeline,
    )

    def inputs(pipeline, name: str) -> list[str]:
        (node,) = [n for n in pipeline.nodes if n.name == name]
        return node.inputs

    own = inputs(create_pipeline(), "whisper_zh.evaluate_transcription")
    variant = inputs(create_lab_pipeline(["v"]), "whisper_zh_lab.v.evaluate_transcription")
    # The same datasets and parameters (the guard recordings among them), but its own
    # adapter and PEFT settings.
    assert "whisper_zh.guard_recordings" in own
    assert [
        name.replace("whisper_zh_lab.v.adapter", "whisper_zh.adapter").replace(
            "whisper_zh_lab.v.peft", "params:whisper_zh.peft"
        )
        for name in variant
    ] == own
