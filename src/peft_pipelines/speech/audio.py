"""Decoding and resampling clips: one decode per clip, soxr for the rate change."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile
import soxr

from peft_pipelines.errors import UserError


class UndecodableAudioError(UserError, ValueError):
    """The bytes are not audio that libsndfile can decode (or decode to no samples)."""


# What soundfile raises for input that is not audio it decodes.
DECODER_ERRORS = (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError)
# What libsndfile says of a regular file in which it finds no format it reads (an .mp3 that
# is not MPEG audio): callers hand it only regular files, so the message says what it means.
MISLEADING_NOT_A_FILE = "File does not exist or is not a regular file"


def decoder_message(error: Exception) -> str:
    """What the decoder says is wrong, without the object it read from.

    ``str()`` of libsndfile's error starts ``Error opening <_io.BytesIO object
    at 0x...>:``, a Python object where the user needs the clip's path: the
    caller names the clip.
    """
    if not isinstance(error, soundfile.LibsndfileError):
        return str(error)
    if error.error_string.startswith(MISLEADING_NOT_A_FILE):
        return "Format not recognised."
    return error.error_string


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
    except DECODER_ERRORS as error:
        raise UndecodableAudioError(decoder_message(error)) from error
    if samples.shape[0] == 0:
        raise UndecodableAudioError("decoded to zero samples")
    mono = samples.mean(axis=1)
    if rate != target_rate:
        mono = soxr.resample(mono, rate, target_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def stream_mono(path: Path, target_rate: int, block_samples: int) -> Iterator[np.ndarray]:
    """A file's audio as mono float32 at ``target_rate``, ``block_samples`` at a time (the last may be shorter).

    Memory stays that of one block whatever the file's length: the file is
    read and resampled (soxr's streaming resampler, no seams between blocks)
    a block at a time. Raises :class:`UndecodableAudioError` if the file is
    not audio libsndfile decodes, or holds no samples.
    """
    try:
        clip = soundfile.SoundFile(path)
    except DECODER_ERRORS as error:
        raise UndecodableAudioError(decoder_message(error)) from error
    with clip:
        if clip.frames == 0:
            raise UndecodableAudioError("decoded to zero samples")
        resampler = (
            soxr.ResampleStream(clip.samplerate, target_rate, 1, dtype="float32", quality="HQ")
            if clip.samplerate != target_rate
            else None
        )
        pending = np.zeros(0, dtype=np.float32)
        read_frames = max(1, block_samples * clip.samplerate // target_rate)
        while True:
            samples = clip.read(read_frames, dtype="float32", always_2d=True)
            last = len(samples) < read_frames
            mono = samples.mean(axis=1) if len(samples) else np.zeros(0, dtype=np.float32)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last)
            pending = np.concatenate([pending, mono.astype(np.float32, copy=False)])
            while len(pending) >= block_samples:
                yield pending[:block_samples]
                pending = pending[block_samples:]
            if last:
                break
        if len(pending):
            yield pending
