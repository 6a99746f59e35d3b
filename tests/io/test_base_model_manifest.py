"""The base-model manifest: one typed value, its defaults, its JSON file as runs have written it."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

import pytest

from peft_pipelines.errors import ConfigurationError, UserError
from peft_pipelines.io import BaseModelManifestDataset
from peft_pipelines.io.base_model_manifest import (
    DEFAULT_QUANTIZATION,
    QUANTIZATIONS,
    Architecture,
    BaseModelManifest,
)
from peft_pipelines.io.model_datasets import ManifestError, read_manifest, write_manifest
from peft_pipelines.io.model_loading import ARCHITECTURES
from peft_pipelines.training.parameter_schema import BaseModelSection

WHISPER = {
    "name_or_path": "openai/whisper-large-v2",
    "revision": None,
    "architecture": "whisper",
    "quantization": "int8",
    "gradient_checkpointing": False,
    "config_overrides": {"forced_decoder_ids": None, "suppress_tokens": []},
    "window_seconds": 5,
    "base_model_random": False,
    "note": None,
}
LEFT_OUT = object()  # a field the file does not have


def test_a_manifest_round_trips_through_its_mapping():
    manifest = BaseModelManifest.from_mapping(WHISPER)
    assert manifest.to_mapping() == WHISPER
    assert BaseModelManifest.from_mapping(manifest.to_mapping()) == manifest


def test_the_file_has_the_keys_and_bytes_runs_have_written(tmp_path):
    file = tmp_path / "base_model_manifest.json"
    write_manifest(file, BaseModelManifest.from_mapping(WHISPER))
    # What describe_base_model's dict became through the JSON dataset before the dataclass.
    assert file.read_text(encoding="utf-8") == json.dumps(WHISPER, indent=1, sort_keys=True)
    # A whole number of seconds stays one: the file, and the checkpoints' fingerprint, keep 5.
    assert json.loads(file.read_text())["window_seconds"] == 5
    assert read_manifest(file) == BaseModelManifest.from_mapping(WHISPER)


def test_missing_optional_fields_take_the_one_set_of_defaults():
    manifest = BaseModelManifest.from_mapping({"name_or_path": "m", "architecture": "causal_lm"})
    assert manifest.quantization == DEFAULT_QUANTIZATION == "int8"
    assert (manifest.revision, manifest.window_seconds, manifest.note) == (None, None, None)
    assert manifest.gradient_checkpointing is False and manifest.base_model_random is False
    assert manifest.config_overrides == {}
    # The parameters' default is the manifest's: the size command and a run agree.
    assert BaseModelSection.model_fields["quantization"].default == DEFAULT_QUANTIZATION


def test_the_choices_are_the_loaders():
    assert set(typing.get_args(Architecture)) == set(ARCHITECTURES)
    assert QUANTIZATIONS == ("none", "int8", "nf4")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"architecture": LEFT_OUT}, "architecture is missing"),
        ({"name_or_path": LEFT_OUT}, "name_or_path is missing"),
        ({"colour": "red"}, "unknown field 'colour' (a manifest has name_or_path, architecture,"),
        (
            {"quantization": "int4"},
            "quantization must be one of ('none', 'int8', 'nf4'), not 'int4'",
        ),
        (
            {"architecture": "bert"},
            "architecture must be one of ['causal_lm', 'whisper'], not 'bert'",
        ),
        ({"window_seconds": "5"}, "window_seconds must be a number or null, not '5'"),
        ({"window_seconds": True}, "window_seconds must be a number or null, not True"),
        (
            {"gradient_checkpointing": "no"},
            "gradient_checkpointing must be true or false, not 'no'",
        ),
        ({"config_overrides": None}, "config_overrides must be a mapping, not None"),
        ({"name_or_path": 3}, "name_or_path must be a string, not 3"),
    ],
)
def test_a_field_that_cannot_be_read_is_one_line_naming_the_file(tmp_path, change, message):
    fields = {key: value for key, value in {**WHISPER, **change}.items() if value is not LEFT_OUT}
    file = tmp_path / "base_model_manifest.json"
    file.write_text(json.dumps(fields))
    with pytest.raises(ConfigurationError) as direct:
        BaseModelManifest.from_mapping(fields)
    assert str(direct.value).startswith(message) and "\n" not in str(direct.value)
    with pytest.raises(ManifestError) as read:
        BaseModelManifestDataset(filepath=str(file)).load()
    assert isinstance(read.value, UserError)
    assert str(read.value).startswith(f"{file} is unreadable: {message}")
    assert str(read.value).endswith(": run the model stages again (kedro run --tags model)")
    assert "\n" not in str(read.value)


def test_a_file_that_is_no_json_object_is_one_line(tmp_path):
    file = tmp_path / "base_model_manifest.json"
    file.write_text("[1, 2]")
    with pytest.raises(
        ManifestError, match=r"is unreadable: a base-model manifest is a JSON object"
    ):
        read_manifest(file)


def test_the_manifest_is_frozen_and_keeps_its_own_overrides():
    overrides = {"suppress_tokens": []}
    manifest = BaseModelManifest("m", "whisper", config_overrides=overrides)
    overrides["suppress_tokens"].append(1)
    assert manifest.config_overrides == {"suppress_tokens": []}
    with pytest.raises(dataclasses.FrozenInstanceError):
        manifest.quantization = "none"  # type: ignore[misc]
    with pytest.raises(ConfigurationError, match="quantization must be one of"):
        dataclasses.replace(manifest, quantization="int4")


def test_a_base_folder_of_the_project_is_named_relative_to_the_file_and_read_back(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    base = tmp_path / "data/06_models/whisper-tiny"
    manifest = BaseModelManifest(str(base), "whisper")
    folder = tmp_path / "data/06_models/whisper_zh"
    written = manifest.written_in(folder)
    assert written.name_or_path == "../whisper-tiny"
    assert written.read_in(folder) == manifest
    assert manifest.portable().name_or_path == "./data/06_models/whisper-tiny"
    # Hub ids and folders outside the project are written as they are.
    assert BaseModelManifest("openai/whisper-tiny", "whisper").written_in(folder).name_or_path == (
        "openai/whisper-tiny"
    )
    outside = str(Path("/elsewhere/model"))
    assert BaseModelManifest(outside, "whisper").written_in(folder).name_or_path == outside
