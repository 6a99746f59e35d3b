"""The PEFT lab's settings of a variant, its comparison table and its cost-quality front, without a model."""

from __future__ import annotations

import pytest

from peft_pipelines.errors import ConfigurationError
from peft_pipelines.plots import lab_front_figure, pareto_front
from peft_pipelines.training.lab import comparison, comparison_markdown, variant_settings

OWN_PEFT = {"peft_type": "LORA", "task_type": None, "r": 4, "lora_alpha": 64, "target_modules": "x"}
OWN_TRAINING = {"output_dir": "ckpt", "max_steps": 60, "eval_steps": 20, "learning_rate": 1e-3}
WHISPER = {"architecture": "whisper"}


def _settings(variant, max_steps=None, base_model=WHISPER):
    return variant_settings(
        OWN_PEFT, OWN_TRAINING, base_model, variant, max_steps, "lab", pipeline="p", name="v"
    )


def test_a_variant_of_the_same_method_changes_only_what_it_gives():
    peft, training = _settings({"peft": {"r": 8, "lora_dropout": None}, "training": {"seed": 1}})
    assert peft == {**OWN_PEFT, "r": 8}
    assert training == {**OWN_TRAINING, "seed": 1, "output_dir": "lab/p/v/checkpoints"}


def test_another_method_starts_from_its_own_defaults_and_adalora_gets_its_step_count():
    peft, _ = _settings({"peft": {"peft_type": "ADALORA", "init_r": 8, "target_r": 4}})
    assert peft == {
        "peft_type": "ADALORA",
        "task_type": None,
        "init_r": 8,
        "target_r": 4,
        "total_step": 60,
    }


def test_the_lab_max_steps_overrides_steps_and_cuts_the_intervals():
    peft, training = _settings(
        {"peft": {"peft_type": "ADALORA"}, "training": {"max_steps": 500}}, max_steps=2
    )
    assert training["max_steps"] == 2 and training["eval_steps"] == 2
    assert peft["total_step"] == 2


def test_prompt_learning_is_refused_for_whisper_only():
    with pytest.raises(
        ConfigurationError, match=r"^peft_lab.p.variants.v.peft.peft_type: P_TUNING"
    ):
        _settings({"peft": {"peft_type": "P_TUNING"}})
    peft, _ = _settings(
        {"peft": {"peft_type": "P_TUNING"}}, base_model={"architecture": "causal_lm"}
    )
    assert peft["peft_type"] == "P_TUNING"


def test_an_unknown_key_of_a_variant_is_named():
    with pytest.raises(ConfigurationError, match=r"variants.v.lora: unknown key"):
        _settings({"lora": {"r": 2}})


def _reports(trainable: int, cer: float) -> list[dict]:
    return [
        {"peft_type": "LORA", "r": 4, "use_dora": trainable > 100},
        {"max_steps": 2, "learning_rate": 1e-3},
        {"parameters": {"trainable": trainable, "total": 1000}},
        {"adapter_bytes": 4 * trainable, "global_step": 2, "seconds_per_step": 0.5},
        {
            "base": {"cer": 0.5},
            "finetuned": {"cer": cer},
            "base_model": "tiny",
            "base_model_random": False,
        },
    ]


def _figures(metrics: dict, side: str) -> dict:
    return {"test_cer": metrics[side]["cer"]}


def test_the_comparison_marks_the_lowest_of_each_column_and_writes_a_table():
    table = comparison("p", ["small", "big"], _reports(10, 0.3) + _reports(200, 0.2), _figures)
    assert [row["variant"] for row in table["variants"]] == ["small", "big"]
    assert table["variants"][1]["method"] == "LORA+DoRA"
    assert table["best"]["trainable_parameters"] == ["small"]
    assert table["best"]["test_cer"] == ["big"]
    assert "peak_memory_bytes" not in table["best"]  # no variant reported it
    assert table["base"] == {"test_cer": 0.5}
    markdown = comparison_markdown(table)
    assert "| small | LORA | **10** |" in markdown and "| **0.2** |" in markdown
    assert "| base (adapter off) | - |" in markdown


def test_the_front_keeps_the_variants_no_cheaper_one_beats():
    points = [(10.0, 0.3, "a"), (20.0, 0.35, "b"), (30.0, 0.2, "c"), (40.0, 0.2, "d")]
    assert [name for *_, name in pareto_front(points)] == ["a", "c"]
    table = comparison("p", ["small", "big"], _reports(10, 0.3) + _reports(200, 0.2), _figures)
    figure = lab_front_figure(table, ["test_cer", "guard_cer"])
    assert len(figure.axes) == 1  # no variant has a guard figure: no panel for it
