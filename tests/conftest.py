"""Shared fixtures: the bundled corpus, a small corpus with every kind of bad row, a scratch project,
the tiny models and quick runs, a headless browser.

Their values are defined in tests/support.py (for module-level use) and returned here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from peft_pipelines.io.base_model_manifest import BaseModelManifest
from peft_pipelines.io.common_voice import write_common_voice_tsv
from tests.browser import CHROMEDRIVER, CHROMIUM
from tests.scratch_project import copy_project
from tests.support import (
    BUNDLED_CORPUS,
    PROCESSOR_DIR,
    QUICK_OPT_RUN,
    QUICK_WHISPER_CATALOG,
    QUICK_WHISPER_RUN,
    SAMPLE_CORPUS_CATALOG,
    TINY_ARCHITECTURE,
    TINY_OPT_CATALOG,
    TINY_WHISPER_CATALOG,
    WHISPER_BASE_CONVERSION,
    read_tsv,
)


@pytest.fixture(scope="session")
def processor_dir() -> Path:
    return PROCESSOR_DIR


@pytest.fixture(scope="session")
def bundled_corpus() -> Path:
    return BUNDLED_CORPUS


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Common Voice-format corpus: a few bundled clips per split, and one train row of each bad kind.

    Those bad rows, by clip path and drop reason: ``bad_train_rows`` (tests.support.BAD_TRAIN_ROWS).
    """
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


@pytest.fixture(scope="session")
def tiny_whisper_catalog() -> dict:
    """conf/local/catalog.yml entry of a scratch project: a tiny random Whisper as the base model."""
    return TINY_WHISPER_CATALOG


@pytest.fixture(scope="session")
def tiny_opt_catalog() -> dict:
    """conf/local/catalog.yml entry of a scratch project: a tiny random OPT as the base model."""
    return TINY_OPT_CATALOG


@pytest.fixture(scope="session")
def sample_corpus_catalog() -> dict:
    """conf/local/catalog.yml entry: a seeded sample of the bundled corpus (16 train, 4 dev, 4 test)."""
    return SAMPLE_CORPUS_CATALOG


@pytest.fixture(scope="session")
def quick_whisper_catalog() -> dict:
    """The tiny random Whisper and the corpus sample, as conf/local catalog entries."""
    return QUICK_WHISPER_CATALOG


@pytest.fixture(scope="session")
def quick_whisper_run() -> dict:
    """Runtime parameters of a quick whisper_zh run (LoRA rank 4, four training steps)."""
    return QUICK_WHISPER_RUN


@pytest.fixture(scope="session")
def quick_opt_run() -> dict:
    """Runtime parameters of a quick opt_quotes run (a few training steps)."""
    return QUICK_OPT_RUN


@pytest.fixture(scope="session")
def whisper_base_conversion() -> dict:
    """The packaged parts and config of whisper-base that conf/base's catalog converts."""
    return WHISPER_BASE_CONVERSION


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


@pytest.fixture
def browser(tmp_path: Path):
    """Headless Chromium (Debian's chromium and chromium-driver), logging every request."""
    # Selenium Manager would look for (and download) a driver unless told where it is.
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1800,1100",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()
