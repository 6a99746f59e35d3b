"""The training core's manifest node, and the size command, read the base-model parameters as a run does."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
from transformers import WhisperConfig

from peft_pipelines.cli import size_summary
from peft_pipelines.errors import ConfigurationError
from peft_pipelines.io.base_model_manifest import DEFAULT_QUANTIZATION, BaseModelManifest
from peft_pipelines.project import Project
from peft_pipelines.training.nodes import describe_base_model
from tests.scratch_project import PROJECT_ROOT

REFERENCE = {"name_or_path": "/models/whisper", "revision": "main", "random_weights": True}
WHISPER = {
    "architecture": "whisper",
    "window_seconds": 5,
    "quantization": "nf4",
    "gradient_checkpointing": True,
    "config_overrides": {"suppress_tokens": []},
}


def test_the_manifest_carries_every_setting_and_the_reference():
    manifest = describe_base_model({**REFERENCE, "note": "tiny"}, WHISPER)
    assert manifest.to_mapping() == {
        "name_or_path": "/models/whisper",
        "revision": "main",
        "architecture": "whisper",
        "quantization": "nf4",
        "gradient_checkpointing": True,
        "config_overrides": {"suppress_tokens": []},
        "window_seconds": 5,
        "base_model_random": True,
        "note": "tiny",
    }


def test_settings_left_out_take_the_manifests_defaults():
    manifest = describe_base_model({"name_or_path": "m"}, {"architecture": "causal_lm"})
    assert manifest == BaseModelManifest("m", "causal_lm")
    assert manifest.quantization == DEFAULT_QUANTIZATION == "int8"
    nulls = {"architecture": "whisper", "config_overrides": None, "window_seconds": None}
    assert describe_base_model({"name_or_path": "m"}, nulls).config_overrides == {}


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            {"architecture": "bert"},
            "base_model.architecture must be one of ['causal_lm', 'whisper'], not 'bert'",
        ),
        (
            {"quantization": "int4"},
            "base_model.quantization must be one of ('none', 'int8', 'nf4'), not 'int4'",
        ),
        (
            {"window_seconds": "five"},
            "base_model.window_seconds must be a number or null, not 'five'",
        ),
    ],
)
def test_a_setting_that_cannot_work_is_one_line_naming_it(change, line):
    with pytest.raises(ConfigurationError) as caught:
        describe_base_model(REFERENCE, {**WHISPER, **change})
    assert str(caught.value) == line


def test_the_size_command_sizes_the_default_quantization_when_none_is_set(
    tiny_whisper_architecture,
):
    params = copy.deepcopy(Project(PROJECT_ROOT).parameters)
    del params["whisper_zh"]["base_model"]["quantization"]
    source = SimpleNamespace(
        location="tiny", load_config=lambda: WhisperConfig(**tiny_whisper_architecture)
    )
    project = SimpleNamespace(parameters=params, catalog={"whisper_zh.pretrained_model": source})
    summary = size_summary(project, "whisper_zh")  # type: ignore[arg-type]
    assert summary["quantization"] == DEFAULT_QUANTIZATION
    assert summary["base_model"] == "tiny"
