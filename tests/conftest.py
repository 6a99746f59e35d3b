"""Shared fixtures: the bundled corpus, a small corpus with every kind of bad row, a scratch project."""

from __future__ import annotations

import csv
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from peft_pipelines.io.base_model_manifest import BaseModelManifest
from peft_pipelines.io.common_voice import write_common_voice_tsv
from tests.browser import browser  # noqa: F401 (a fixture, for every browser test)
from tests.scratch_project import PROJECT_ROOT, copy_project

__all__ = ["PROJECT_ROOT", "copy_project"]  # re-exported for the test modules
BUNDLED_CORPUS = PROJECT_ROOT / "data" / "01_raw" / "common_voice_zh_sample"
PROCESSOR_DIR = PROJECT_ROOT / "data" / "01_raw" / "whisper_processor"


def copy_corpus_head(root: Path, rows: dict[str, int]) -> Path:
    """The first ``rows[split]`` rows of each bundled split, with their clips, as a corpus in ``root``.

    The TSV lines are copied byte for byte, for a test to spoil as it likes.
    """
    (root / "clips").mkdir(parents=True)
    for split, count in rows.items():
        lines = (BUNDLED_CORPUS / f"{split}.tsv").read_bytes().splitlines()[: count + 1]
        (root / f"{split}.tsv").write_bytes(b"\n".join(lines) + b"\n")
        for line in lines[1:]:
            clip = line.decode("utf-8").split("\t")[1]
            shutil.copy(BUNDLED_CORPUS / "clips" / clip, root / "clips" / clip)
    return root


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.fixture(scope="session")
def processor_dir() -> Path:
    return PROCESSOR_DIR


@pytest.fixture(scope="session")
def bundled_corpus() -> Path:
    return BUNDLED_CORPUS


# The bad rows planted in the train split of `small_corpus`, by clip path -> expected drop reason.
BAD_TRAIN_ROWS = {
    "missing.mp3": "missing_clip",
    "blank.mp3": "blank_sentence",
    "broken.mp3": "undecodable_audio",
    "too_long.wav": "audio_too_long",
    "long_label.mp3": "label_too_long",
    "malformed.mp3": "malformed_tsv_row",
    # Clip paths leading out of clips/: never read, whatever they point at.
    "../outside.mp3": "path_outside_corpus",
    "/etc/passwd": "path_outside_corpus",
    "link_out.mp3": "path_outside_corpus",
}


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Common Voice-format corpus: a few bundled clips per split, and one train row of each bad kind."""
    root = tmp_path_factory.mktemp("small_corpus")
    clips = root / "clips"
    clips.mkdir()
    for split, good in (("train", 4), ("dev", 2), ("test", 2)):
        rows = read_tsv(BUNDLED_CORPUS / f"{split}.tsv")[:good]
        for row in rows:
            shutil.copy(BUNDLED_CORPUS / "clips" / row["path"], clips / row["path"])
        extra: tuple[str, ...] = ()
        if split == "train":
            template = dict(rows[0])
            good_clip = clips / rows[0]["path"]
            shutil.copy(good_clip, clips / "blank.mp3")
            shutil.copy(good_clip, clips / "long_label.mp3")
            shutil.copy(good_clip, clips / "malformed.mp3")
            shutil.copy(good_clip, root / "outside.mp3")
            (clips / "link_out.mp3").symlink_to(root / "outside.mp3")
            (clips / "broken.mp3").write_bytes(b"ID3 this is not audio at all" * 20)
            # 31 s of 44.1 kHz stereo: also exercises resampling of another rate and channel count.
            seconds, rate = 31, 44100
            t = np.arange(seconds * rate) / rate
            tone = 0.1 * np.sin(2 * np.pi * 220 * t)
            soundfile.write(clips / "too_long.wav", np.stack([tone, tone], axis=1), rate)
            all_sentences = "".join(r["sentence"] for r in read_tsv(BUNDLED_CORPUS / "train.tsv"))
            rows += [
                {**template, "path": "missing.mp3"},
                {**template, "path": "blank.mp3", "sentence": "   "},
                {**template, "path": "broken.mp3"},
                {**template, "path": "too_long.wav"},
                {**template, "path": "long_label.mp3", "sentence": (all_sentences * 3)[:900]},
                {**template, "path": "../outside.mp3"},
                {**template, "path": "/etc/passwd"},
                {**template, "path": "link_out.mp3"},
            ]
            extra = ("c0ffee\tmalformed.mp3\t只有三列",)
        write_common_voice_tsv(root / f"{split}.tsv", rows, extra_lines=extra)
    return root


@pytest.fixture
def scratch_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An untracked copy of the project (``copy_project``) in a temporary folder, the cwd."""
    monkeypatch.chdir(tmp_path)
    return copy_project(tmp_path)


# A Whisper small enough to train in seconds: 5 s window (500 frames), one layer each side.
TINY_ARCHITECTURE = {
    "d_model": 32,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_attention_heads": 2,
    "decoder_attention_heads": 2,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
    "max_source_positions": 250,
    "max_target_positions": 64,
}
# conf/local/catalog.yml entries of a scratch project: tiny random bases instead of the packaged ones.
TINY_WHISPER_CATALOG = {
    "whisper_zh.pretrained_model": {
        "type": "peft_pipelines.speech.TinyRandomWhisperDataset",
        "path": "data/06_models/whisper-tiny-random",
        "processor": str(PROCESSOR_DIR),
        "architecture": TINY_ARCHITECTURE,
        "seed": 0,
    }
}
TINY_OPT_CATALOG = {
    "opt_quotes.pretrained_model": {
        "type": "peft_pipelines.text.TinyRandomOPTDataset",
        "path": "data/06_models/opt-tiny-random",
        "tokenizer": "data/01_raw/gpt2_tokenizer",
        "architecture": {
            "hidden_size": 32,
            "word_embed_proj_dim": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "ffn_dim": 64,
            "max_position_embeddings": 256,
        },
        "seed": 0,
    }
}
# A seeded sample of the bundled corpus (16 train, 4 dev, 4 test clips), as a conf/local entry.
SAMPLE_CORPUS_CATALOG = {
    "whisper_zh.corpus_source": {
        "type": "peft_pipelines.io.CommonVoiceReleaseDataset",
        "path": "data/01_raw/common_voice_zh_sample",
        "subset": {"seed": 16, "rows": {"train": 16, "dev": 4, "test": 4}},
    }
}
# Four steps of four examples, evaluated and saved every two: a whole pipeline in seconds.
QUICK_TRAINING = {
    "max_steps": 4,
    "eval_steps": 2,
    "save_steps": 2,
    "logging_steps": 1,
    "per_device_train_batch_size": 4,
}
LORA = {
    "peft_type": "LORA",
    "r": 4,
    "lora_alpha": 64,
    "target_modules": ["q_proj", "v_proj"],
    "lora_dropout": 0.05,
    "bias": "none",
}


@pytest.fixture(scope="session")
def tiny_whisper_manifest(tmp_path_factory: pytest.TempPathFactory) -> BaseModelManifest:
    from peft_pipelines.speech.tiny_whisper import build_tiny_whisper  # noqa: PLC0415

    folder = build_tiny_whisper(
        str(PROCESSOR_DIR),
        TINY_ARCHITECTURE,
        seed=0,
        out_dir=str(tmp_path_factory.mktemp("tiny_whisper")),
    )
    return BaseModelManifest(
        name_or_path=str(folder),
        revision=None,
        architecture="whisper",
        quantization="int8",
        gradient_checkpointing=False,
        config_overrides={"forced_decoder_ids": None, "suppress_tokens": []},
        window_seconds=None,
        base_model_random=True,
        note="a tiny random Whisper",
    )


@pytest.fixture(scope="session")
def bundled_features():
    """Features of a seeded sample of the bundled corpus: 16 train, 4 dev, 4 test clips."""
    from transformers import WhisperProcessor  # noqa: PLC0415

    from peft_pipelines.io.common_voice import read_common_voice_release  # noqa: PLC0415
    from peft_pipelines.pipelines.whisper_zh.nodes import ingest_corpus, prune_columns  # noqa: PLC0415
    from peft_pipelines.speech.nodes import (  # noqa: PLC0415
        extract_features_and_labels,
        resample_to_16k,
    )

    source = read_common_voice_release(
        BUNDLED_CORPUS,
        ["train", "dev", "test"],
        {"seed": 16, "rows": {"train": 16, "dev": 4, "test": 4}},
    )
    raw, _ = ingest_corpus(source)
    pruned, _ = prune_columns(raw, ["audio", "sentence"])
    window = tiny_window()
    resampled, _ = resample_to_16k(pruned, {"sampling_rate": 16000}, window)
    model = {"language": "zh", "task": "transcribe"}
    processor = WhisperProcessor.from_pretrained(PROCESSOR_DIR)
    features, _ = extract_features_and_labels(
        resampled, processor, model, {"max_label_tokens": 64}, window
    )
    return features


def tiny_window() -> dict:
    """The input window of ``TINY_ARCHITECTURE`` (500 frames, 5 s)."""
    from transformers import WhisperFeatureExtractor  # noqa: PLC0415

    from peft_pipelines.speech.collator import input_window  # noqa: PLC0415

    extractor = WhisperFeatureExtractor.from_pretrained(PROCESSOR_DIR)
    return input_window(TINY_ARCHITECTURE["max_source_positions"], extractor)


def execute_notebook(name: str, project: Path, timeout: int = 900):
    """Run ``notebooks/<name>`` top to bottom in a fresh kernel whose cwd is ``project``.

    nbclient raises ``CellExecutionError`` (with the cell and its traceback) on the first
    failing cell. Returns the executed notebook.
    """
    import nbformat  # noqa: PLC0415
    from nbclient import NotebookClient  # noqa: PLC0415

    book = nbformat.read(PROJECT_ROOT / "notebooks" / name, as_version=4)
    client = NotebookClient(
        book, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(project)}}
    )
    # ipykernel's kernelspec starts "python" from PATH: make that this interpreter,
    # as `make test` runs .venv/bin/python without activating the venv.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        client.execute()
    return book


def notebook_output_text(book) -> str:
    """Everything the executed notebook printed or displayed as text or HTML."""
    parts = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts += [data.get("text/plain", ""), data.get("text/html", "")]
    return "\n".join(parts)
