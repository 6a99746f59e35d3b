"""Silero VAD in front of the decoder: non-speech is never decoded, the bundled speech always is."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from peft_pipelines.errors import ConfigurationError
from peft_pipelines.speech import vad as vad_module
from peft_pipelines.speech.audio import decode_to_mono
from peft_pipelines.speech.decoding import NO_SPEECH, DecodingOptions
from peft_pipelines.speech.transcribe import transcribe_file, transcribe_recordings
from peft_pipelines.speech.vad import (
    DEFAULT_VAD,
    VadModelError,
    VadSettings,
    has_speech,
    speech_of_stream,
    speech_regions,
)
from tests.support import BUNDLED_CORPUS, read_tsv

RATE = 16000


def _seconds(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * RATE)) / RATE


def _noise(seconds: float, amplitude: float, seed: int = 0) -> np.ndarray:
    return amplitude * np.random.default_rng(seed).standard_normal(int(seconds * RATE))


def _tone_with_light_noise() -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * 220 * _seconds(75)) + _noise(75, 0.01)


def _sawtooth_chord() -> np.ndarray:
    """A major chord of three sawtooth notes, music-like, as loud as speech."""
    t = _seconds(30)
    return 0.2 * sum(2 * ((f * t) % 1) - 1 for f in (220.0, 277.18, 329.63))


NON_SPEECH = {
    "220 Hz tone with light noise, 75 s": _tone_with_light_noise,
    "white noise, 30 s": lambda: _noise(30, 0.3),
    "sawtooth chord, 30 s": _sawtooth_chord,
    "low noise, 10 minutes": lambda: _noise(600, 0.001),
}


def _test_split_speech() -> list[np.ndarray]:
    rows = read_tsv(BUNDLED_CORPUS / "test.tsv")
    return [decode_to_mono((BUNDLED_CORPUS / "clips" / r["path"]).read_bytes(), RATE) for r in rows]


@pytest.fixture(scope="module")
def tiny_model_that_must_not_decode(tiny_whisper_manifest, processor_dir):
    """The tiny random Whisper and its processor; ``calls`` counts its ``generate`` calls."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor  # noqa: PLC0415

    model = WhisperForConditionalGeneration.from_pretrained(tiny_whisper_manifest.name_or_path)
    model.eval()
    calls = []
    generate = model.generate
    model.generate = lambda *args, **kwargs: calls.append(1) or generate(*args, **kwargs)
    return model, WhisperProcessor.from_pretrained(processor_dir), calls


@pytest.mark.parametrize("name", NON_SPEECH)
def test_the_detector_hears_no_speech_in_tones_noise_or_music_and_the_model_is_not_called(
    tiny_model_that_must_not_decode, name
):
    model, processor, calls = tiny_model_that_must_not_decode
    before = len(calls)
    transcripts = transcribe_recordings(
        model,
        processor,
        [NON_SPEECH[name]().astype(np.float32)],
        DecodingOptions(max_new_tokens=8, batch_size=1),
    )
    assert transcripts == [NO_SPEECH]
    assert len(calls) == before


def test_with_the_detector_off_the_model_decodes_the_tone(tiny_model_that_must_not_decode):
    model, processor, calls = tiny_model_that_must_not_decode
    before = len(calls)
    tone = (0.5 * np.sin(2 * np.pi * 220 * _seconds(3))).astype(np.float32)
    (heard,) = transcribe_recordings(
        model,
        processor,
        [tone],
        DecodingOptions(max_new_tokens=4, batch_size=1, vad=VadSettings.from_parameters(None)),
    )
    assert heard.no_speech is False and len(calls) == before + 1


def test_a_file_of_a_tone_prints_nothing_and_says_all_of_it_was_skipped(
    tiny_model_that_must_not_decode, tmp_path
):
    model, processor, calls = tiny_model_that_must_not_decode
    audio = tmp_path / "tone.flac"
    soundfile.write(audio, _tone_with_light_noise(), 44100)  # resampled to 16 kHz as it is read
    before = len(calls)
    heard = transcribe_file(model, processor, audio, DecodingOptions(max_new_tokens=8))
    assert heard.text == "" and len(calls) == before
    assert heard.seconds == pytest.approx(75 * 16000 / 44100, abs=0.01)
    assert heard.speech_seconds == 0 and heard.skipped_seconds == heard.seconds


def test_the_detector_hears_speech_in_every_bundled_test_clip():
    clips = _test_split_speech()
    assert len(clips) == 25
    assert has_speech(clips, DEFAULT_VAD) == [True] * 25


def test_speech_over_a_blocks_edge_is_one_chunk_not_cut_in_two():
    """Blocks of 10 s, speech from 7 s to about 16 s: the region open at 10 s is heard with the next block."""
    speech = np.concatenate(_test_split_speech()[:4])[: 9 * RATE]
    audio = np.concatenate([_noise(7, 0.001), speech, _noise(8, 0.001, seed=1)]).astype(np.float32)
    blocks = [audio[i : i + 10 * RATE] for i in range(0, len(audio), 10 * RATE)]
    found = list(speech_of_stream(blocks, DEFAULT_VAD, max_seconds=30.0))
    chunks = [chunk for block in found for chunk in block.chunks]
    assert sum(block.samples_read for block in found) == len(audio)
    (whole,) = speech_regions(audio, DEFAULT_VAD, 30.0)
    assert len(chunks) == 1
    assert abs(len(chunks[0]) - (whole["end"] - whole["start"])) <= 0.1 * RATE
    assert sum(block.speech_samples for block in found) == len(chunks[0])


def test_the_default_settings_are_the_parameters_files():
    from kedro.config import OmegaConfigLoader  # noqa: PLC0415

    from tests.scratch_project import PROJECT_ROOT  # noqa: PLC0415

    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="base")
    evaluation = loader["parameters"]["whisper_zh"]["evaluation"]
    assert "silence" not in evaluation  # the energy gate is gone
    assert VadSettings.from_parameters(evaluation["vad"]) == DEFAULT_VAD == VadSettings()
    assert VadSettings.from_parameters(None) is None


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"threshold": 1.5}, "vad.threshold must be between 0 and 1, not 1.5"),
        ({"min_speech_ms": -1}, "vad.min_speech_ms must be a whole number of ms >= 0, not -1"),
        ({"pad_ms": 100}, "vad has no setting(s) ['pad_ms']"),
    ],
)
def test_a_bad_setting_is_a_configuration_error_naming_it(settings, problem):
    with pytest.raises(ConfigurationError) as raised:
        VadSettings.from_parameters(settings)
    assert str(raised.value).startswith(problem)


def test_a_changed_or_missing_model_file_is_one_line_naming_it(monkeypatch):
    vad_module.silero_model_file.cache_clear()
    monkeypatch.setattr(vad_module, "SILERO_SHA256", "0" * 64)
    with pytest.raises(VadModelError) as raised:
        speech_regions(np.zeros(RATE, dtype=np.float32), DEFAULT_VAD)
    message = str(raised.value)
    assert len(message.splitlines()) == 1
    assert "faster_whisper/assets/silero_vad_v6.onnx is corrupt" in message
    assert "pip install --force-reinstall --no-deps faster-whisper==1.2.1" in message

    vad_module.silero_model_file.cache_clear()
    monkeypatch.setattr(vad_module, "SILERO_PACKAGE", "no_such_package_here")
    with pytest.raises(VadModelError, match="pip install faster-whisper==1.2.1"):
        speech_regions(np.zeros(RATE, dtype=np.float32), DEFAULT_VAD)
    vad_module.silero_model_file.cache_clear()


@pytest.fixture(scope="module")
def whisper_base(tmp_path_factory, processor_dir):
    """The real whisper-base, converted from the catalog's packaged files into a scratch folder."""
    import torch  # noqa: PLC0415
    from kedro.config import OmegaConfigLoader  # noqa: PLC0415
    from transformers import WhisperForConditionalGeneration, WhisperProcessor  # noqa: PLC0415

    from peft_pipelines.speech.ctranslate2_whisper import (  # noqa: PLC0415
        convert_packaged_whisper,
        packaged_parts,
    )
    from tests.scratch_project import PROJECT_ROOT  # noqa: PLC0415

    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="base")
    entry = loader["catalog"]["whisper_zh.pretrained_model"]
    parts, config = packaged_parts({"parts": entry["parts"], "config": entry["config"]})
    folder = tmp_path_factory.mktemp("models") / "whisper-base"
    convert_packaged_whisper(parts, config, str(processor_dir), folder)
    model = WhisperForConditionalGeneration.from_pretrained(str(folder), dtype=torch.float32)
    model.eval()
    return model, WhisperProcessor.from_pretrained(str(folder))


@pytest.mark.real_model
def test_the_test_splits_cer_with_the_detector_is_within_0_005_of_without(whisper_base):
    """whisper-base on the 25 test clips: gated as the evaluation gates them, and cut to their speech."""
    from peft_pipelines.speech.metrics import character_error_rate  # noqa: PLC0415

    model, processor = whisper_base
    references = [r["sentence"] for r in read_tsv(BUNDLED_CORPUS / "test.tsv")]
    clips = _test_split_speech()
    options = DecodingOptions(batch_size=8, max_new_tokens=64)
    detector_off = DecodingOptions(batch_size=8, max_new_tokens=64, vad=None)
    whole = [t.text for t in transcribe_recordings(model, processor, clips, detector_off)]
    # The evaluation decodes a clip with speech whole and scores one without as "".
    gated = [
        t if heard else "" for t, heard in zip(whole, has_speech(clips, DEFAULT_VAD), strict=True)
    ]
    speech_only = [t.text for t in transcribe_recordings(model, processor, clips, options)]
    without = character_error_rate(references, whole)
    cers = {
        "without": without,
        "gated": character_error_rate(references, gated),
        "speech only": character_error_rate(references, speech_only),
    }
    print(f"whisper-base test-split CER: {cers}")  # noqa: T201 (the figures for the CI log)
    assert abs(cers["gated"] - without) <= 0.005
    assert abs(cers["speech only"] - without) <= 0.005
