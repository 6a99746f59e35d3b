"""Decoding and resampling clips: one decode per clip, soxr for the rate change."""

from __future__ import annotations

import io

import numpy as np
import soundfile
import soxr


class UndecodableAudioError(ValueError):
    """The bytes are not audio that libsndfile can decode (or decode to no samples)."""


def decode_to_mono(data: bytes, target_rate: int) -> np.ndarray:
    """Decode encoded audio bytes (mp3, wav, flac, ogg...) to mono float32 at ``target_rate``.

    Channels are averaged and the rate converted with soxr (librosa's default
    high-quality resampler), whatever the input's rate or channel count.
    Raises :class:`UndecodableAudioError` with the decoder's message on failure.
    """
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as clip:
            samples = clip.read(dtype="float32", always_2d=True)
            rate = clip.samplerate
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise UndecodableAudioError(str(error)) from error
    if samples.shape[0] == 0:
        raise UndecodableAudioError("decoded to zero samples")
    mono = samples.mean(axis=1)
    if rate != target_rate:
        mono = soxr.resample(mono, rate, target_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)
