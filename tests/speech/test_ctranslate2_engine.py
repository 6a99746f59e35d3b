"""The CTranslate2 engine: its export folder checked before loading, windows fitted per batch, results in order."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from peft_pipelines.errors import UserError
from peft_pipelines.speech.ctranslate2_engine import (
    fitted_window_frames,
    load_ctranslate2_transcriber,
    read_model_shapes,
)
from peft_pipelines.speech.decoding import DecodingOptions
from peft_pipelines.speech.subtitles import subrip, webvtt
from peft_pipelines.speech.transcribe import Segment, transcribe_files
from peft_pipelines.speech.vad import group_regions
from tests.support import BUNDLED_CORPUS, tiny_ctranslate2_export


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory) -> Path:
    return tiny_ctranslate2_export(tmp_path_factory.mktemp("tiny-ct2"))


def _spoilt_copy(export: Path, where: Path) -> Path:
    return Path(shutil.copytree(export, where / "export"))


def test_the_smallest_window_holding_the_longest_clip_and_never_below_the_training_window():
    windows = (5, 10, 15, 20, 30)
    assert fitted_window_frames(330, windows, 500, 3000) == 500
    assert fitted_window_frames(501, windows, 500, 3000) == 1000
    assert fitted_window_frames(2999, windows, 500, 3000) == 3000
    assert fitted_window_frames(330, windows, 1000, 3000) == 1000  # trained on 10 s windows
    assert (
        fitted_window_frames(700, (5,), 500, 3000) == 3000
    )  # no choice holds it: the whole window
    assert fitted_window_frames(400, windows, 500, 500) == 500  # a model whose window is 5 s


def test_the_window_is_read_off_model_bin_without_loading_it(tiny_export):
    shapes = read_model_shapes(tiny_export / "model.bin")
    assert shapes.spec == "WhisperSpec"
    # TINY_ARCHITECTURE: 250 encoder positions, two frames each.
    assert shapes.shapes["encoder/position_encodings/encodings"][0] == 250
    transcriber = load_ctranslate2_transcriber(tiny_export, min_window_seconds=5)
    assert (transcriber.window_frames, transcriber.min_window_frames) == (500, 500)


@pytest.mark.parametrize("spoil", ["truncated", "missing", "vocabulary", "not a model"])
def test_a_broken_export_is_one_line_naming_it(tiny_export, tmp_path, spoil):
    export = _spoilt_copy(tiny_export, tmp_path)
    model = export / "model.bin"
    if spoil == "truncated":
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    elif spoil == "missing":
        model.unlink()
    elif spoil == "vocabulary":
        vocabulary = json.loads((export / "vocabulary.json").read_text())
        vocabulary[100], vocabulary[101] = vocabulary[101], vocabulary[100]
        (export / "vocabulary.json").write_text(json.dumps(vocabulary))
    else:
        model.write_bytes(b"not a CTranslate2 model at all")
    with pytest.raises(UserError) as raised:
        load_ctranslate2_transcriber(export)
    message = str(raised.value)
    assert "\n" not in message
    assert str(export) in message
    expected = {
        "truncated": "is truncated",
        "missing": "has no model.bin",
        "vocabulary": "(first: id 100): not the same vocabulary",
        "not a model": "not a CTranslate2 model",
    }[spoil]
    assert expected in message, message


class _FramesCounter:
    """A stand-in for the CTranslate2 model: answers each row with its count of frames that are not padding."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.windows: list[tuple[int, int]] = []  # (batch size, frames) of each call

    def generate(self, features, prompts, **options):
        batch = np.asarray(features)
        assert len(prompts) == batch.shape[0] and options["beam_size"] == 1  # greedy
        self.windows.append((batch.shape[0], batch.shape[2]))
        counts = [int((row != row[:, -1:]).any(axis=0).sum()) for row in batch]
        return [
            SimpleNamespace(
                sequences_ids=[self.tokenizer.encode(f" {n}", add_special_tokens=False)]
            )
            for n in counts
        ]


def test_clips_are_batched_by_length_into_fitted_windows_and_come_back_in_order(tiny_export):
    transcriber = load_ctranslate2_transcriber(tiny_export, min_window_seconds=5)
    # A model with a 30 s window, so that batches can be cut to 5 or 10 s.
    transcriber.model = _FramesCounter(transcriber.tokenizer)
    transcriber.window_frames = 3000
    rng = np.random.default_rng(0)
    seconds = [1.0, 9.0, 2.0, 8.0, 3.0]
    clips = [rng.normal(0, 0.1, int(s * 16000)).astype(np.float32) for s in seconds]
    heard = transcriber.transcribe_clips(clips, DecodingOptions(batch_size=2))
    frames = [int(t.text) for t in heard]
    # Each clip's own frames (a padded frame may match the floor by chance: within 2).
    assert all(abs(n - s * 100) <= 3 for n, s in zip(frames, seconds, strict=True)), frames
    # Longest first: (9, 8 s) in 10 s, (3, 2 s) and (1 s) in the 5 s training window.
    assert transcriber.model.windows == [(2, 1000), (2, 500), (1, 500)]


def test_batched_and_alone_give_the_same_text(tiny_export):
    transcriber = load_ctranslate2_transcriber(tiny_export, min_window_seconds=5)
    clips = [np.random.default_rng(n).normal(0, 0.1, 24000).astype(np.float32) for n in range(3)]
    options = DecodingOptions(max_new_tokens=6)
    alone = [transcriber.transcribe_clips([clip], options)[0].text for clip in clips]
    assert [t.text for t in transcriber.transcribe_clips(clips, options)] == alone


def test_a_clip_longer_than_the_window_is_cut_into_windows(tiny_export):
    transcriber = load_ctranslate2_transcriber(tiny_export, min_window_seconds=5)
    options = DecodingOptions(max_new_tokens=4)
    window = np.random.default_rng(1).normal(0, 0.1, transcriber.window_samples)
    window = window.astype(np.float32)
    (one,) = transcriber.transcribe_clips([window], options)
    (two,) = transcriber.transcribe_clips([np.concatenate([window, window])], options)
    assert one.text and two.text.startswith(one.text) and len(two.text) > len(one.text)


def test_files_share_batches_and_each_gets_its_speech_chunks_with_times(tiny_export, tmp_path):
    transcriber = load_ctranslate2_transcriber(tiny_export, min_window_seconds=5)
    clips = sorted((BUNDLED_CORPUS / "clips").iterdir())[:2]
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really")
    heard = transcribe_files(
        transcriber, [clips[0], bad, clips[1]], DecodingOptions(max_new_tokens=4)
    )
    assert isinstance(heard[1], Exception)
    for file in (heard[0], heard[2]):
        assert file.text and file.segments
        assert 0 <= file.segments[0].start < file.segments[-1].end <= file.seconds + 1e-6


def test_regions_are_grouped_as_faster_whisper_joins_them():
    regions = [
        {"start": 0, "end": 16000},
        {"start": 20000, "end": 36000},
        {"start": 40000, "end": 72000},
    ]
    assert group_regions(regions, 2.0) == [regions[:2], regions[2:]]
    assert group_regions(regions, 1.5) == [regions[:1], regions[1:2], regions[2:]]
    assert group_regions([], 30) == []


def test_subrip_and_webvtt_cues():
    segments = [Segment(0.0, 1.5, "你好"), Segment(3661.25, 3662.0, "再见")]
    assert subrip(segments) == (
        "1\n00:00:00,000 --> 00:00:01,500\n你好\n\n2\n01:01:01,250 --> 01:01:02,000\n再见\n"
    )
    assert webvtt(segments).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n你好\n")
