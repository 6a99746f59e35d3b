"""A copied or moved project uses its own files: paths inside it are written relative to the file naming them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from peft_pipelines.cli import transcribe_main
from peft_pipelines.io.model_datasets import MANIFEST_FILE, read_manifest
from peft_pipelines.speech.audio import decode_to_mono
from tests.scratch_project import copy_project, run_pipeline
from tests.support import read_tsv

pytestmark = pytest.mark.slow

MODELS = Path("data/06_models")
BASE = MODELS / "whisper-tiny-random"


@pytest.fixture(scope="module")
def original(tmp_path_factory, quick_whisper_catalog, quick_whisper_run) -> Path:
    """One whole whisper_zh run in a scratch project (the last test of the module deletes it)."""
    project = tmp_path_factory.mktemp("original") / "project"
    project.mkdir()
    copy_project(project, catalog=quick_whisper_catalog)
    run_pipeline(project, "whisper_zh", quick_whisper_run)
    return project


@pytest.fixture(scope="module")
def speech(tmp_path_factory, bundled_corpus) -> Path:
    row = read_tsv(bundled_corpus / "test.tsv")[0]
    samples = decode_to_mono((bundled_corpus / "clips" / row["path"]).read_bytes(), 16000)
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    soundfile.write(path, np.asarray(samples, dtype=np.float32), 16000)
    return path


def _adapters(project: Path) -> list[Path]:
    return sorted((project / MODELS / "whisper_zh" / "adapter").glob("*/adapter"))


def _copy(project: Path, to: Path) -> Path:
    # data/01_raw is a link to the checkout's bundled inputs: it stays a link.
    return Path(shutil.copytree(project, to, symlinks=True))


def test_files_of_the_project_name_its_base_relative_to_themselves(original):
    manifest = json.loads((original / MODELS / "whisper_zh" / MANIFEST_FILE).read_text())
    assert manifest["name_or_path"] == "../whisper-tiny-random"
    (adapter,) = _adapters(original)
    for name, key in (
        (MANIFEST_FILE, "name_or_path"),
        ("adapter_config.json", "base_model_name_or_path"),
    ):
        assert json.loads((adapter / name).read_text())[key] == "../../../../whisper-tiny-random"
    assert read_manifest(adapter / MANIFEST_FILE).name_or_path == str(original / BASE)
    # What loads a base reads (checkpoints are resumed onto a base already loaded).
    read_by_loaders = [original / MODELS / "whisper_zh" / MANIFEST_FILE]
    for stage in ("adapter_init", "adapter"):
        read_by_loaders += (original / MODELS / "whisper_zh" / stage).rglob("*.json")
    for file in read_by_loaders:
        assert str(original) not in file.read_text(), file


def test_a_copy_whose_own_base_is_broken_says_so_instead_of_using_the_originals(
    original, tmp_path, speech, capsys
):
    copy = _copy(original, tmp_path / "copy")
    weights = copy / BASE / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    (adapter,) = _adapters(copy)
    # The transformers engine loads the base (the copy's CTranslate2 export would not need it).
    argv = [str(speech), "--adapter", str(adapter), "--engine", "transformers"]
    assert transcribe_main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: cannot load the base model {copy / BASE} that the adapter"), (
        line
    )
    assert f"{weights} is truncated or corrupt" in line


def test_a_copy_transcribes_and_reruns_with_the_original_deleted(
    original, tmp_path, speech, quick_whisper_run
):
    copy = _copy(original, tmp_path / "copy")
    shutil.rmtree(original)
    (adapter,) = _adapters(copy)
    assert transcribe_main([str(speech), "--adapter", str(adapter)]) == 0

    # The model stages from the saved untrained adapter and manifest, as `--from-nodes` does.
    run_pipeline(copy, "whisper_zh", quick_whisper_run, from_nodes=["whisper_zh.train_adapter"])
    first, second = _adapters(copy)
    assert read_manifest(second / MANIFEST_FILE).name_or_path == str(copy / BASE)
    assert (copy / "data/08_reporting/whisper_zh/metrics.json").is_file()
