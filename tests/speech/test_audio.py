import io

import numpy as np
import pytest
import soundfile

from peft_pipelines.speech.audio import UndecodableAudioError, decode_to_mono
from tests.support import read_tsv


def _wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV")
    return buffer.getvalue()


def test_stereo_44k1_is_mixed_to_mono_and_resampled_to_16k():
    rate = 44100
    t = np.arange(rate * 2) / rate
    left, right = np.sin(2 * np.pi * 440 * t), np.zeros_like(t)
    mono = decode_to_mono(_wav_bytes(np.stack([left, right], axis=1), rate), 16000)
    assert mono.dtype == np.float32 and mono.ndim == 1
    assert len(mono) == pytest.approx(32000, abs=2)
    assert np.abs(mono).max() == pytest.approx(
        0.5, abs=0.02
    )  # the average of a full-scale and a silent channel


def test_common_voice_mp3_at_48k_decodes_to_16k(bundled_corpus):
    row = read_tsv(bundled_corpus / "train.tsv")[0]
    data = (bundled_corpus / "clips" / row["path"]).read_bytes()
    with soundfile.SoundFile(io.BytesIO(data)) as clip:
        assert (clip.samplerate, clip.channels) == (48000, 1)
        seconds = clip.frames / clip.samplerate
    assert len(decode_to_mono(data, 16000)) == pytest.approx(seconds * 16000, abs=2)


@pytest.mark.parametrize("data", [b"", b"not audio" * 100, b"RIFF\x00\x00\x00\x00WAVEfmt "])
def test_bytes_that_are_not_audio_raise_undecodable(data):
    with pytest.raises(UndecodableAudioError):
        decode_to_mono(data, 16000)
