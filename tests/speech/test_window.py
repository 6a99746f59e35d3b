"""The input window: the training window in the parameters, the model's window at load; feature length, padding, the too-long rule."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import soundfile
from datasets import Dataset, DatasetDict
from transformers import WhisperConfig, WhisperProcessor

from peft_pipelines.pipelines.whisper_zh.nodes import read_input_window
from peft_pipelines.speech.collator import collator_for
from peft_pipelines.speech.nodes import extract_features_and_labels, resample_to_16k

MODEL = {"language": "zh", "task": "transcribe"}


@pytest.fixture(scope="module")
def processor(processor_dir) -> WhisperProcessor:
    return WhisperProcessor.from_pretrained(processor_dir)


@pytest.mark.parametrize(("frames", "seconds"), [(3000, 30.0), (500, 5.0)])
def test_input_window_is_window_seconds_in_frames_and_samples(frames, seconds, processor):
    window = read_input_window({"window_seconds": seconds}, processor)
    assert (window["frames"], window["seconds"], window["samples"]) == (
        frames,
        seconds,
        int(seconds * 16000),
    )


@pytest.mark.parametrize("positions", [1500, 250])
def test_collator_pads_to_the_window_of_the_model_config(positions):
    config = WhisperConfig(max_source_positions=positions, decoder_start_token_id=50258)
    rows = [
        {"log_mel": np.zeros((120, 80), np.float16), "labels": [50258, 1, 2, 50257]},
        {"log_mel": np.zeros((37, 80), np.float16), "labels": [50258, 3, 50257]},
    ]
    assert collator_for(config)(rows)["input_features"].shape == (2, 80, 2 * positions)


def _clip(seconds: float, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    soundfile.write(buffer, 0.2 * np.sin(2 * np.pi * 300 * t), rate, format="WAV")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def clips() -> DatasetDict:
    lengths = {"four_s": 4.0, "exactly_5s": 5.0, "six_s": 6.0}
    return DatasetDict(
        {
            "train": Dataset.from_dict(
                {
                    "path": list(lengths),
                    "sentence": ["你好"] * len(lengths),
                    "audio": [_clip(s) for s in lengths.values()],
                }
            )
        }
    )


def test_a_5s_window_drops_longer_clips_and_caps_features_at_500_frames(clips, processor):
    window = read_input_window({"window_seconds": 5}, processor)
    resampled, report = resample_to_16k(clips, {"sampling_rate": 16000}, window)
    assert resampled["train"]["path"] == ["four_s", "exactly_5s"]
    assert [(d["path"], d["reason"]) for d in report["dropped"]] == [("six_s", "audio_too_long")]
    assert "5 s window" in report["dropped"][0]["detail"]
    features, _ = extract_features_and_labels(
        resampled, processor, MODEL, {"max_label_tokens": 448}, window
    )
    assert features["train"]["n_frames"] == [402, 500]


def test_a_30s_window_keeps_the_same_clips(clips, processor):
    window = read_input_window({"window_seconds": 30}, processor)
    resampled, report = resample_to_16k(clips, {"sampling_rate": 16000}, window)
    assert resampled["train"]["path"] == ["four_s", "exactly_5s", "six_s"]
    assert report["dropped"] == []


def test_the_encoder_window_is_the_position_tables_first_rows_and_widens_again(
    tiny_whisper_manifest,
):
    import torch  # noqa: PLC0415

    from peft_pipelines.io.model_loading import (  # noqa: PLC0415
        load_base_model,
        whisper_encoder_window,
    )

    full = load_base_model(replace(tiny_whisper_manifest, quantization="none"))
    short = load_base_model(replace(tiny_whisper_manifest, quantization="none", window_seconds=2))
    table = full.get_encoder().embed_positions.weight
    assert short.config.max_source_positions == 100
    assert torch.equal(short.get_encoder().embed_positions.weight, table[:100])
    assert collator_for(short.config).window_frames == 200
    with whisper_encoder_window(short, None) as positions:
        assert positions == 250 == short.config.max_source_positions
        assert torch.equal(short.get_encoder().embed_positions.weight, table)
        features = torch.zeros(1, 80, 500)
        short.eval()
        full.eval()
        prompt = torch.tensor([[50258, 50260, 50359, 50363]])
        with torch.no_grad():
            assert torch.allclose(
                short(input_features=features, decoder_input_ids=prompt).logits,
                full(input_features=features, decoder_input_ids=prompt).logits,
            )
    assert short.config.max_source_positions == 100
    with pytest.raises(ValueError, match="outside the model's window of 5 s"):
        load_base_model(replace(tiny_whisper_manifest, quantization="none", window_seconds=6))
