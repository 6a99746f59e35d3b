"""The configuration environments: conf/full holds only what differs, and every catalog builds."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from kedro.config import OmegaConfigLoader

from peft_pipelines.project import Project
from tests.scratch_project import PROJECT_ROOT

CONF = PROJECT_ROOT / "conf"


def _loader(env: str) -> OmegaConfigLoader:
    return Project.at(PROJECT_ROOT, env).config_loader


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict) and tree:
        flat: dict[str, Any] = {}
        for key, value in tree.items():
            flat.update(_leaves(value, f"{prefix}.{key}" if prefix else key))
        return flat
    return {prefix: tree}


def test_conf_full_parameters_hold_only_settings_that_differ_from_base():
    base = _leaves(_loader("base")["parameters"])
    for file in sorted((CONF / "full").glob("parameters_*.yml")):
        for key, value in _leaves(yaml.safe_load(file.read_text())).items():
            assert key in base or value is not None, f"{file.name}: {key} unsets nothing"
            assert base.get(key, object()) != value, f"{file.name}: {key} repeats conf/base"


def test_full_inherits_what_it_does_not_change_and_unsets_what_it_nulls():
    base, full = _loader("base")["parameters"], _loader("full")["parameters"]
    assert full["whisper_zh"]["long_utterances"] == base["whisper_zh"]["long_utterances"]
    assert full["whisper_zh"]["peft"]["r"] == 4 and full["whisper_zh"]["peft"]["lora_alpha"] == 64
    assert full["whisper_zh"]["peft"]["target_modules"] == ["q_proj", "v_proj"]
    assert full["whisper_zh"]["training"]["max_steps"] is None
    assert full["whisper_zh"]["training"]["num_train_epochs"] == 1
    assert full["whisper_zh"]["base_model"]["window_seconds"] == 30
    assert full["opt_quotes"]["training"]["max_steps"] == 100


@pytest.mark.parametrize(
    ("env", "inputs"),
    [
        (
            "base",
            {
                "whisper_zh.corpus_source": "CommonVoiceReleaseDataset",
                "whisper_zh.pretrained_model": "CTranslate2WhisperDataset",
                "opt_quotes.quotes_source": "TextDataset",
                "opt_quotes.pretrained_model": "GGUFCausalLMDataset",
            },
        ),
        (
            "full",
            {
                "whisper_zh.corpus_source": "CommonVoiceReleaseDataset",
                "whisper_zh.pretrained_model": "PretrainedModelDataset",
                "opt_quotes.quotes_source": "HFDataset",
                "opt_quotes.pretrained_model": "PretrainedModelDataset",
            },
        ),
        ("hub", {"whisper_zh.corpus_source": "HFAudioCorpusDataset"}),
    ],
)
def test_every_environment_locates_its_inputs_in_the_catalog(env, inputs):
    catalog = Project.at(PROJECT_ROOT, env).catalog
    assert {name: type(catalog.get(name)).__name__ for name in inputs} == inputs
    # Versioned: each run writes a new <timestamp>/adapter folder.
    assert catalog.config_resolver.resolve_pattern("whisper_zh.adapter")["versioned"] is True
