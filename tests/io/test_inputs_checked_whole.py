"""Inputs a run reads are checked whole before its first node; a converted model that changed is converted again."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict

from peft_pipelines.errors import UserError
from peft_pipelines.io import AtomicArrowDataset, PretrainedModelDataset
from peft_pipelines.io.atomic_arrow_dataset import IncompleteDatasetError
from peft_pipelines.io.base_model_manifest import BaseModelManifest
from peft_pipelines.io.model_folders import (
    ModelFolderError,
    conversion_is_current,
    write_conversion_record,
)
from peft_pipelines.io.model_loading import load_base_model
from tests.scratch_project import copy_project, kedro_cli, run_pipeline
from tests.support import PROCESSOR_DIR, TINY_WHISPER_CATALOG

FEATURES = Path("data/04_feature/whisper_zh/features")
# Whole, so that the run gets as far as the features (their content is never read).
ARROW_INPUTS_OF_THE_MODEL_STAGES = (
    Path("data/03_primary/whisper_zh/corpus_16k"),
    Path("data/05_model_input/whisper_zh/long_utterances"),
)
MANIFEST = Path("data/06_models/whisper_zh/base_model_manifest.json")
SHARD = "train/data-00000-of-00002.arrow"


def _two_shard_splits(path: Path) -> Path:
    """A saved DatasetDict whose train split has two shards, as ``max_shard_size`` makes them."""
    rows = Dataset.from_dict({"x": list(range(2000)), "y": [f"row {i}" for i in range(2000)]})
    data = DatasetDict({"train": rows, "test": rows.select(range(10))})
    AtomicArrowDataset(path=str(path), save_args={"num_shards": {"train": 2, "test": 1}}).save(data)
    return path


def test_a_whole_saved_dataset_passes(tmp_path):
    AtomicArrowDataset(path=str(_two_shard_splits(tmp_path / "features"))).preflight()


def test_a_deleted_shard_is_named(tmp_path):
    folder = _two_shard_splits(tmp_path / "features")
    (folder / SHARD).unlink()
    with pytest.raises(IncompleteDatasetError) as caught:
        AtomicArrowDataset(path=str(folder)).preflight()
    assert str(caught.value).startswith(f"{folder / SHARD} is missing: rerun the stage")
    assert isinstance(caught.value, UserError) and len(str(caught.value).splitlines()) == 1


@pytest.mark.parametrize("keep", [0.5, "all but the end-of-stream marker"])
def test_a_cut_shard_is_named(tmp_path, keep):
    folder = _two_shard_splits(tmp_path / "features")
    shard = folder / SHARD
    data = shard.read_bytes()
    shard.write_bytes(data[: int(len(data) * keep)] if isinstance(keep, float) else data[:-8])
    with pytest.raises(IncompleteDatasetError, match=f"^{re.escape(str(shard))} is truncated"):
        AtomicArrowDataset(path=str(folder)).preflight()


def test_a_missing_split_list_or_folder_is_named(tmp_path):
    folder = _two_shard_splits(tmp_path / "features")
    (folder / "test" / "state.json").unlink()
    with pytest.raises(
        IncompleteDatasetError,
        match=f"^{re.escape(str(folder / 'test' / 'state.json'))} is missing",
    ):
        AtomicArrowDataset(path=str(folder)).preflight()
    with pytest.raises(
        IncompleteDatasetError, match=f"^no saved dataset at {re.escape(str(tmp_path / 'nope'))}"
    ):
        AtomicArrowDataset(path=str(tmp_path / "nope")).preflight()


def test_a_deleted_shard_stops_the_run_before_its_first_node(tmp_path):
    """``--tags model`` on saved features: the cut input is named before describe_base_model runs."""
    project = copy_project(tmp_path, catalog=TINY_WHISPER_CATALOG)
    for saved in (FEATURES, *ARROW_INPUTS_OF_THE_MODEL_STAGES):
        _two_shard_splits(project / saved)
    (project / FEATURES / SHARD).unlink()
    with pytest.raises(UserError) as caught:
        run_pipeline(project, "whisper_zh", tags=["model"])
    message = str(caught.value)
    assert message.startswith(f"whisper_zh.features: {project / FEATURES / SHARD} is missing"), (
        message
    )
    assert len(message.splitlines()) == 1
    assert not (project / MANIFEST).exists()  # no node ran


@pytest.mark.slow
def test_kedro_run_on_a_cut_shard_is_one_line_and_exit_2(tmp_path):
    project = copy_project(tmp_path, catalog=TINY_WHISPER_CATALOG)
    for saved in (FEATURES, *ARROW_INPUTS_OF_THE_MODEL_STAGES):
        _two_shard_splits(project / saved)
    shard = project / FEATURES / SHARD
    shard.write_bytes(shard.read_bytes()[:5000])
    result = kedro_cli(project, "run", "--pipelines=whisper_zh", "--tags=model")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert line.startswith(f"error: whisper_zh.features: {shard} is truncated or corrupt"), line
    assert not (project / MANIFEST).exists()


def _tiny_model_folder(root: Path) -> Path:
    from peft_pipelines.speech.tiny_whisper import build_tiny_whisper  # noqa: PLC0415

    return build_tiny_whisper(
        str(PROCESSOR_DIR),
        TINY_WHISPER_CATALOG["whisper_zh.pretrained_model"]["architecture"],
        0,
        str(root / "model"),
    )


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return _tiny_model_folder(tmp_path_factory.mktemp("tiny"))


def _cut(file: Path, keep: int = 1000) -> None:
    file.write_bytes(file.read_bytes()[:keep])


@pytest.mark.parametrize("fault", ["missing", "no config", "cut weights"])
def test_a_missing_or_broken_base_model_folder_is_one_line_naming_it(tiny_model, tmp_path, fault):
    folder = shutil.copytree(tiny_model, tmp_path / "base")
    expected = {
        "missing": f"no model folder at {tmp_path / 'nope'}",
        "no config": f"{folder} is not a model folder (no config.json)",
        "cut weights": f"{folder / 'model.safetensors'} is truncated or corrupt",
    }[fault]
    if fault == "missing":
        folder = tmp_path / "nope"
    elif fault == "no config":
        (folder / "config.json").unlink()
    else:
        _cut(folder / "model.safetensors")
    with pytest.raises(ModelFolderError) as caught:
        PretrainedModelDataset(name_or_path=str(folder)).preflight()
    assert str(caught.value).startswith(expected), caught.value
    assert len(str(caught.value).splitlines()) == 1
    manifest = BaseModelManifest(
        name_or_path=str(folder), architecture="whisper", quantization="none"
    )
    with pytest.raises(ModelFolderError, match=f"^{re.escape(expected)}"):
        load_base_model(
            manifest
        )  # what a node or the CLI calls: the same line, no loader's traceback


def test_a_hub_id_is_not_checked_offline():
    PretrainedModelDataset(name_or_path="openai/whisper-large-v2").preflight()


def test_a_missing_base_model_stops_the_run_before_its_first_node(tmp_path):
    catalog = {
        "whisper_zh.pretrained_model": {
            "type": "peft_pipelines.io.PretrainedModelDataset",
            "name_or_path": "data/06_models/no-such-model",
        }
    }
    project = copy_project(tmp_path, catalog=catalog)
    with pytest.raises(UserError) as caught:
        run_pipeline(project, "whisper_zh", node_names=["whisper_zh.describe_base_model"])
    assert str(caught.value).startswith(
        "whisper_zh.pretrained_model: no model folder at data/06_models/no-such-model: "
    ), caught.value
    assert not (project / MANIFEST).exists()


# ---- a converted folder's record of its files ----

SOURCE = {"file": "model.gguf", "sha256": "ab" * 32, "save_dtype": "float16"}
RECORD = "converted_from.json"


@pytest.fixture
def converted(tmp_path) -> Path:
    folder = tmp_path / "converted"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(4096))
    (folder / "config.json").write_text('{"model_type": "opt"}')
    write_conversion_record(folder, RECORD, SOURCE)
    return folder


def test_an_untouched_conversion_is_current_without_hashing(converted, monkeypatch):
    def no_hashing(path):
        raise AssertionError(f"{path} was hashed")

    monkeypatch.setattr("peft_pipelines.io.model_folders.sha256_of_file", no_hashing)
    assert conversion_is_current(converted, RECORD, SOURCE)
    assert not conversion_is_current(converted, RECORD, {**SOURCE, "sha256": "cd" * 32})


@pytest.mark.parametrize("fault", ["cut", "same size, other bytes", "deleted"])
def test_a_cut_or_changed_file_makes_the_conversion_stale_with_a_warning(converted, caplog, fault):
    weights = converted / "model.safetensors"
    if fault == "cut":
        _cut(weights, 100)
    elif fault == "deleted":
        weights.unlink()
    else:
        weights.write_bytes(os.urandom(4096))
    with caplog.at_level(logging.WARNING, logger="peft_pipelines.io.model_folders"):
        assert not conversion_is_current(converted, RECORD, SOURCE)
    assert f"{weights} " in caplog.text and "converting" in caplog.text


def test_a_file_copied_without_its_times_is_hashed_once_then_trusted(converted, monkeypatch):
    weights = converted / "model.safetensors"
    os.utime(weights, ns=(0, 10**18))
    assert conversion_is_current(converted, RECORD, SOURCE)  # same bytes: still current
    monkeypatch.setattr(
        "peft_pipelines.io.model_folders.sha256_of_file",
        lambda path: pytest.fail(f"{path} hashed again"),
    )
    assert conversion_is_current(converted, RECORD, SOURCE)


@pytest.mark.parametrize("record", ["{not json", json.dumps(SOURCE)])
def test_an_unreadable_record_or_one_without_hashes_is_converted_again(converted, caplog, record):
    (converted / RECORD).write_text(record)
    with caplog.at_level(logging.WARNING, logger="peft_pipelines.io.model_folders"):
        assert not conversion_is_current(converted, RECORD, SOURCE)
    assert str(converted / RECORD) in caplog.text
