"""Decoding settings as one type: built from the pipeline's parameters, defaults those of the parameters file."""

from __future__ import annotations

import dataclasses

import pytest

from peft_pipelines.errors import ConfigurationError
from peft_pipelines.pipelines.whisper_zh.parameters import EvaluationSection
from peft_pipelines.speech.decoding import NO_SPEECH, DecodingOptions, Transcript
from peft_pipelines.speech.vad import DEFAULT_VAD, VadSettings


@pytest.fixture(scope="module")
def whisper_zh_parameters() -> dict:
    from kedro.config import OmegaConfigLoader  # noqa: PLC0415

    from tests.scratch_project import PROJECT_ROOT  # noqa: PLC0415

    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="base")
    return loader["parameters"]["whisper_zh"]


def test_the_parameters_file_gives_the_default_options(whisper_zh_parameters):
    options = DecodingOptions.from_parameters(
        whisper_zh_parameters["model"], whisper_zh_parameters["evaluation"]
    )
    assert options == DecodingOptions()
    assert options.vad == DEFAULT_VAD


def test_the_schemas_defaults_are_the_options_defaults():
    schema = EvaluationSection().model_dump()
    defaults = dataclasses.asdict(DecodingOptions())
    for name in ("batch_size", "max_new_tokens", "tokens_per_second", "vad"):
        assert schema[name] == defaults[name], name


def test_language_task_and_every_evaluation_setting_are_read():
    options = DecodingOptions.from_parameters(
        {"language": "en", "task": "translate"},
        {"max_new_tokens": 6, "tokens_per_second": 4, "batch_size": 2, "vad": None},
    )
    assert options == DecodingOptions(
        language="en",
        task="translate",
        max_new_tokens=6,
        tokens_per_second=4.0,
        batch_size=2,
        vad=None,
    )
    absent = DecodingOptions.from_parameters({"language": "zh", "task": "transcribe"}, {})
    assert absent.vad == DEFAULT_VAD  # absent: the default detector; null: off
    custom = DecodingOptions.from_parameters({}, {"vad": {"threshold": 0.6}})
    assert custom.vad == VadSettings(threshold=0.6)


def test_replace_overrides_the_fields_given_and_leaves_unset_flags():
    options = DecodingOptions().replace(max_new_tokens=8, language=None)
    assert (options.max_new_tokens, options.language) == (8, "zh")


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"max_new_tokens": 0}, "decoding max_new_tokens must be a whole number > 0, not 0"),
        ({"batch_size": 2.0}, "decoding batch_size must be a whole number > 0, not 2.0"),
        ({"tokens_per_second": 0}, "decoding tokens_per_second must be > 0, not 0"),
    ],
)
def test_options_given_in_code_are_checked(fields, problem):
    with pytest.raises(ConfigurationError, match=problem):
        DecodingOptions(**fields)


def test_a_transcript_has_named_fields():
    assert NO_SPEECH == Transcript(text="", loop_cut=False, no_speech=True)
    assert NO_SPEECH.no_speech and not NO_SPEECH.loop_cut and NO_SPEECH.text == ""


def test_a_null_setting_keeps_its_default_and_a_bad_one_is_refused_not_coerced():
    options = DecodingOptions.from_parameters({"language": "zh"}, {"max_new_tokens": None})
    assert options.max_new_tokens == DecodingOptions().max_new_tokens
    for bad, problem in [
        ({"max_new_tokens": 0}, "max_new_tokens must be a whole number > 0, not 0"),
        ({"batch_size": 2.5}, "batch_size must be a whole number > 0, not 2.5"),
        ({"tokens_per_second": "fast"}, "tokens_per_second must be > 0, not 'fast'"),
    ]:
        with pytest.raises(ConfigurationError, match=problem):
            DecodingOptions.from_parameters({"language": "zh"}, bad)
