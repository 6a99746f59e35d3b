"""Voice activity detection in front of the decoder: Silero VAD, as faster-whisper runs it.

Whisper given audio without speech invents some: a steady tone becomes a
phrase per window, a chord becomes lyrics. An energy gate cannot tell loud
non-speech from speech; Silero VAD, a small network trained for exactly that,
can. faster-whisper's :mod:`faster_whisper.vad` (the module behind its own
``vad_filter``) runs it with onnxruntime on one thread, from the ONNX file in
faster-whisper's wheel: nothing is downloaded. The file is found with
``importlib`` and its SHA-256 checked before first use.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from peft_pipelines.errors import ConfigurationError, UserError
from peft_pipelines.io.packaged_files import find_packaged_file, sha256_of_file

SILERO_PACKAGE = "faster_whisper"
SILERO_FILE = "assets/silero_vad_v6.onnx"
SILERO_SHA256 = "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2"
SILERO_PIP_SPEC = "faster-whisper==1.2.1"
SAMPLING_RATE = 16000  # Silero's rate, and Whisper's

# (start, end) sample indices of one stretch of speech, end exclusive.
Region = dict[str, int]


class VadModelError(UserError, RuntimeError):
    """The Silero VAD model file is missing or is not the one this project was tested with."""


@dataclass(frozen=True)
class VadSettings:
    """Silero VAD's settings (``whisper_zh.evaluation.vad``; these defaults are the parameters file's).

    ``threshold``: the speech probability above which a 32 ms frame is speech;
    speech shorter than ``min_speech_ms`` is dropped, pauses shorter than
    ``min_silence_ms`` are bridged, and each region is padded by
    ``speech_pad_ms`` on both sides (a word's edges score low).
    """

    threshold: float = 0.5
    min_speech_ms: int = 250
    min_silence_ms: int = 500
    speech_pad_ms: int = 200

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.threshold < 1:
            problems.append(f"vad.threshold must be between 0 and 1, not {self.threshold}")
        for name in ("min_speech_ms", "min_silence_ms", "speech_pad_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                problems.append(f"vad.{name} must be a whole number of ms >= 0, not {value!r}")
        if problems:
            raise ConfigurationError("\n".join(problems))

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any] | None) -> VadSettings | None:
        """The settings of a parameters entry; ``None`` (the detector off) for ``None``."""
        if parameters is None:
            return None
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(parameters) - set(known))
        if unknown:
            raise ConfigurationError(f"vad has no setting(s) {unknown}; it has {known}")
        return cls(**parameters)


DEFAULT_VAD = VadSettings()


@cache
def silero_model_file() -> Path:
    """The Silero VAD ONNX file inside the installed faster-whisper, after checking its SHA-256.

    Raises :class:`VadModelError` (one line naming the file and the command
    that reinstalls it) if faster-whisper is missing or the file differs.
    """
    try:
        path = find_packaged_file(
            SILERO_PACKAGE, SILERO_FILE, install_hint=f"pip install {SILERO_PIP_SPEC}"
        )
    except FileNotFoundError as error:
        raise VadModelError(str(error)) from None
    digest = sha256_of_file(path)
    if digest != SILERO_SHA256:
        raise VadModelError(
            f"{path} is corrupt or not the Silero VAD model of {SILERO_PIP_SPEC} (SHA-256 "
            f"{digest[:12]}..., expected {SILERO_SHA256[:12]}...): reinstall it with "
            f"pip install --force-reinstall --no-deps {SILERO_PIP_SPEC}"
        )
    return path


def speech_regions(
    samples: np.ndarray, settings: VadSettings, max_seconds: float = math.inf
) -> list[Region]:
    """The padded stretches of speech in 16 kHz mono ``samples``, in order; none for non-speech.

    None is longer than ``max_seconds``: a longer stretch is split at its last
    pause of 100 ms or more (or at ``max_seconds`` if it has none), as
    faster-whisper splits speech for its 30 s window.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps  # noqa: PLC0415 (it imports ctranslate2 and PyAV)

    silero_model_file()
    if len(samples) == 0:
        return []
    options = VadOptions(
        threshold=settings.threshold,
        min_speech_duration_ms=settings.min_speech_ms,
        min_silence_duration_ms=settings.min_silence_ms,
        speech_pad_ms=settings.speech_pad_ms,
        max_speech_duration_s=max_seconds,
    )
    audio = np.ascontiguousarray(samples, dtype=np.float32)
    return get_speech_timestamps(audio, options, sampling_rate=SAMPLING_RATE)


def group_regions(regions: Sequence[Region], max_seconds: float) -> list[list[Region]]:
    """``regions`` in consecutive groups whose speech adds up to at most ``max_seconds``.

    faster-whisper's joining rule (``collect_chunks``, as its batched
    transcription feeds the decoder), kept here with the regions themselves so
    that each chunk knows where in the audio it starts and ends.
    """
    limit = max_seconds * SAMPLING_RATE
    groups: list[list[Region]] = []
    current: list[Region] = []
    length = 0
    for region in regions:
        size = region["end"] - region["start"]
        if current and length + size > limit:
            groups.append(current)
            current, length = [], 0
        current.append(region)
        length += size
    if current:
        groups.append(current)
    return [group for group in groups if any(r["end"] > r["start"] for r in group)]


def speech_chunks(
    samples: np.ndarray, regions: Sequence[Region], max_seconds: float
) -> list[np.ndarray]:
    """The ``regions`` of ``samples`` joined end to end into chunks of at most ``max_seconds`` (:func:`group_regions`).

    No chunk at all when there is no region.
    """
    return [
        np.concatenate([samples[r["start"] : r["end"]] for r in group])
        for group in group_regions(regions, max_seconds)
    ]


def has_speech(recordings: Iterable[np.ndarray], settings: VadSettings) -> list[bool]:
    """Whether the detector hears any speech in each 16 kHz recording."""
    return [bool(speech_regions(np.asarray(r), settings)) for r in recordings]


@dataclass(frozen=True)
class BlockSpeech:
    """The speech :func:`speech_of_stream` found in one block: its chunks, and the samples read and kept."""

    chunks: list[np.ndarray]
    samples_read: int
    speech_samples: int
    # Per chunk: the seconds from the stream's start of its first region's start and last one's end.
    spans: list[tuple[float, float]] = field(default_factory=list)


def speech_of_stream(
    blocks: Iterable[np.ndarray], settings: VadSettings, max_seconds: float
) -> Iterator[BlockSpeech]:
    """The speech of audio read block by block, as chunks of at most ``max_seconds``; memory of a block or two.

    A region still open at a block's end may go on in the next one: it is held
    back and heard again at the head of the next block (the detector's state
    does not carry from one call to the next), so no chunk is cut inside speech
    at a block's edge. Regions are at most ``max_seconds``, so is what is held.
    """
    held = np.zeros(0, dtype=np.float32)
    read = 0  # samples of the stream before the current block
    for block in blocks:
        audio = np.concatenate([held, block]) if len(held) else block
        audio_start = read - len(held)
        regions = speech_regions(audio, settings, max_seconds)
        held = np.zeros(0, dtype=np.float32)
        if regions and regions[-1]["end"] >= len(audio):
            held = audio[regions.pop()["start"] :].copy()
        yield _block_speech(audio, regions, max_seconds, len(block), audio_start)
        read += len(block)
    if len(held):
        regions = speech_regions(held, settings, max_seconds)
        yield _block_speech(held, regions, max_seconds, 0, read - len(held))


def _block_speech(
    audio: np.ndarray,
    regions: list[Region],
    max_seconds: float,
    samples_read: int,
    audio_start: int,
) -> BlockSpeech:
    groups = group_regions(regions, max_seconds)
    return BlockSpeech(
        chunks=[np.concatenate([audio[r["start"] : r["end"]] for r in group]) for group in groups],
        samples_read=samples_read,
        speech_samples=sum(r["end"] - r["start"] for r in regions),
        spans=[
            (
                (audio_start + group[0]["start"]) / SAMPLING_RATE,
                (audio_start + group[-1]["end"]) / SAMPLING_RATE,
            )
            for group in groups
        ],
    )
