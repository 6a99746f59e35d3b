"""opt_quotes_lab on the tiny random OPT: every default method, prompt learning included; one variant rerun alone."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from peft_pipelines.runner import IncrementalRunner
from tests.scratch_project import copy_project, run_pipeline
from tests.support import QUICK_OPT_RUN, TINY_OPT_CATALOG, lab_parameters

pytestmark = pytest.mark.slow

LAB = Path("data/08_reporting/peft_lab/opt_quotes")
DATA_NODES = {
    "opt_quotes.ingest_quotes",
    "opt_quotes.split_heldout",
    "opt_quotes.tokenize_quotes",
    "opt_quotes.describe_base_model",
    "opt_quotes.prepare_tokenizer",
}
VARIANT_NODES = {
    "resolve_variant_settings",
    "add_peft_adapter",
    "train_adapter",
    "evaluate_perplexity",
    "generate_samples",
}
COMPARISON_NODES = {"opt_quotes_lab.compare_variants", "opt_quotes_lab.plot_comparison"}
VARIANTS = {"lora": {}, "prompt": {"peft": {"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 4}}}


def _variant_nodes(name: str) -> set[str]:
    return {f"opt_quotes_lab.{name}.{node}" for node in VARIANT_NODES}


def _run(project: Path, params: dict) -> set[str]:
    runner = IncrementalRunner()
    run_pipeline(project, "opt_quotes_lab", params, runner=runner)
    return set(runner.last_plan.stale)


def test_two_variants_share_the_data_stages_and_a_changed_one_reruns_alone(tmp_path):
    project = copy_project(
        tmp_path, catalog=TINY_OPT_CATALOG, parameters=lab_parameters("opt_quotes", VARIANTS)
    )
    first = _run(project, QUICK_OPT_RUN)
    assert (
        first == DATA_NODES | _variant_nodes("lora") | _variant_nodes("prompt") | COMPARISON_NODES
    )
    table = json.loads((project / LAB / "comparison.json").read_text())
    rows = {row["variant"]: row for row in table["variants"]}
    assert {name: row["method"] for name, row in rows.items()} == {
        "lora": "LORA",
        "prompt": "PROMPT_TUNING",
    }
    for row in rows.values():
        assert row["steps"] == 2
        for field in (
            "trainable_parameters",
            "adapter_bytes",
            "seconds_per_step",
            "peak_memory_bytes",
        ):
            assert row[field] > 0, field
        assert math.isfinite(row["metrics"]["perplexity"])
    # 4 virtual tokens of the tiny OPT's 32 dimensions.
    assert rows["prompt"]["trainable_parameters"] == 4 * 32
    assert (project / LAB / "prompt" / "generations.json").is_file()

    changed = copy.deepcopy(QUICK_OPT_RUN)
    changed["peft_lab"] = {"opt_quotes": {"variants": {"lora": {"peft": {"r": 4}}}}}
    assert _run(project, changed) == _variant_nodes("lora") | COMPARISON_NODES


def test_every_default_method_trains_saves_reloads_and_scores_on_the_tiny_opt(tmp_path):
    from peft_pipelines.io.model_datasets import load_adapter  # noqa: PLC0415 (loads torch)

    project = copy_project(
        tmp_path, catalog=TINY_OPT_CATALOG, parameters={"peft_lab": {"max_steps": 1}}
    )
    run_pipeline(project, "opt_quotes_lab", QUICK_OPT_RUN)
    table = json.loads((project / LAB / "comparison.json").read_text())
    assert {row["variant"]: row["method"] for row in table["variants"]} == {
        "lora": "LORA",
        "dora": "LORA+DoRA",
        "adalora": "ADALORA",
        "ia3": "IA3",
        "prompt_tuning": "PROMPT_TUNING",
        "prefix_tuning": "PREFIX_TUNING",
        "p_tuning": "P_TUNING",
    }
    for row in table["variants"]:
        name = row["variant"]
        metrics = json.loads((project / LAB / name / "metrics.json").read_text())
        # Every held-out token scored, virtual tokens or not: the same count as the base's.
        assert metrics["finetuned"]["tokens"] == metrics["base"]["tokens"] > 0, name
        samples = json.loads((project / LAB / name / "generations.json").read_text())["samples"]
        assert all(isinstance(s["finetuned"], str) for s in samples), name
        (folder,) = (project / f"data/06_models/peft_lab/opt_quotes/{name}/adapter").glob(
            "*/adapter"
        )
        assert (
            load_adapter(folder).peft_config["default"].peft_type.value
            == row["method"].split("+")[0]
        )


def test_each_variant_is_an_mlflow_run_nested_under_the_lab_run(tmp_path):
    from mlflow.tracking import MlflowClient  # noqa: PLC0415 (slow import, one test)

    variants = {"lora": {}, "rank2": {"peft": {"r": 2}}}
    project = copy_project(
        tmp_path,
        tracked=True,
        catalog=TINY_OPT_CATALOG,
        parameters=lab_parameters("opt_quotes", variants, max_steps=1),
    )
    run_pipeline(project, "opt_quotes_lab", QUICK_OPT_RUN)
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("peft_pipelines")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    children = {run.info.run_name: run for run in runs if run is not parent}
    assert set(children) == {"opt_quotes_lab.lora", "opt_quotes_lab.rank2"}
    for child in children.values():
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == "FINISHED"
        assert math.isfinite(child.data.metrics["finetuned.perplexity"])
    assert children["opt_quotes_lab.rank2"].data.params["peft.r"] == "2"
    assert parent.data.params["peft_lab.max_steps"] == "1"
