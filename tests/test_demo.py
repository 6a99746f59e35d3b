"""The web demo's answers to bad input, at the function level: a message, never a crash."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from peft_pipelines.demo import (
    DemoInputError,
    adapter_versions,
    check_audio,
    no_adapter_message,
    read_adapter_info,
    recorded_cers,
)


def test_a_bundled_clip_passes_the_checks(bundled_corpus):
    clip = next((bundled_corpus / "clips").glob("*.mp3"))
    assert check_audio(str(clip)) == clip


def test_nothing_uploaded_asks_for_a_file():
    with pytest.raises(DemoInputError, match="Upload an audio file or record one first"):
        check_audio(None)


def test_a_file_that_is_not_audio_is_named(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio at all\n")
    with pytest.raises(DemoInputError, match=r"notes\.txt is not an audio file the demo can read"):
        check_audio(str(notes))


@pytest.mark.parametrize("frames", [0, None])
def test_an_empty_recording_says_so(tmp_path, frames):
    empty = tmp_path / "empty.wav"
    if frames is None:
        empty.write_bytes(b"")  # a recording cut off before anything was written
    else:
        soundfile.write(empty, np.zeros(frames, dtype=np.float32), 16000)
    with pytest.raises(DemoInputError, match="The recording is empty"):
        check_audio(str(empty))


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.wav"
    soundfile.write(big, np.zeros(16000 * 40, dtype=np.float32), 16000)  # 1.2 MB
    with pytest.raises(DemoInputError, match=r"The file is 1\.2 MB; the limit is 1 MB"):
        check_audio(str(big), max_bytes=2**20)


def test_audio_over_the_length_limit_is_refused(tmp_path):
    long = tmp_path / "long.flac"
    soundfile.write(long, np.zeros(16000 * 90, dtype=np.float32), 16000)
    with pytest.raises(DemoInputError, match=r"1\.5 minutes long; the limit is 1 minutes"):
        check_audio(str(long), max_seconds=60)


def test_no_adapter_yet_names_the_run_to_do():
    assert no_adapter_message("whisper_zh") == (
        "No trained `whisper_zh` adapter yet: run `kedro run --pipelines whisper_zh` first."
    )


def test_adapters_are_listed_newest_first_with_base_settings_and_the_latest_cer(tmp_path):
    root = tmp_path / "data/06_models/whisper_zh/adapter"
    for version in ("2026-11-01T10.00.00.000Z", "2026-11-02T10.00.00.000Z"):
        folder = root / version / "adapter"
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text(
            json.dumps(
                {"peft_type": "LORA", "r": 4, "lora_alpha": 64, "base_model_name_or_path": "b"}
            )
        )
        (folder / "base_model_manifest.json").write_text(
            json.dumps({"name_or_path": "whisper-base", "architecture": "whisper"})
        )
    (root / "half-written").mkdir()  # no adapter_config.json: not an adapter
    metrics = tmp_path / "data/08_reporting/whisper_zh/metrics.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps({"finetuned": {"cer": 0.083}}))
    folders = adapter_versions(root)
    assert [f.parent.name for f in folders] == [
        "2026-11-02T10.00.00.000Z",
        "2026-11-01T10.00.00.000Z",
    ]
    info = read_adapter_info(folders[0])
    assert info.base == "whisper-base" and info.peft["r"] == 4
    cers = recorded_cers(
        tmp_path,
        "whisper_zh",
        folders,
        tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
        metrics_file=metrics,
    )
    assert cers == {folders[0]: 0.083}  # metrics.json describes only the newest
    info.cer = cers[folders[0]]
    assert "**Test CER (fine-tuned)** 8.3%" in info.facts() and "r 4" in info.facts()
