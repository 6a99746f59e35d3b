"""Whether a CTranslate2 export of a Whisper transcribes as the merged model it was converted from.

Both engines are :class:`~peft_pipelines.speech.transcribe.ClipTranscriber` s
given the same audio and the same :class:`DecodingOptions`; the report holds
each one's CER, clips per second, and how many transcripts are the same.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from peft_pipelines.speech.decoding import DecodingOptions
from peft_pipelines.speech.metrics import character_error_rate
from peft_pipelines.speech.transcribe import ClipTranscriber

# Quantizations whose weights are the merged model's own: greedy decoding must agree.
UNQUANTIZED = ("float32",)


@dataclass(frozen=True)
class TranscriptParitySettings:
    """How close an export must stay to the merged model (``params:whisper_zh.export``).

    An unquantized export runs the merged model's own weights: at least
    ``min_identical_share`` of the clips must get its very transcript. A
    quantized one may move the CER (test clips and long recordings alike) by
    at most ``max_cer_gap`` (absolute).
    """

    max_cer_gap: float = 0.02
    min_identical_share: float = 0.96

    @classmethod
    def from_params(cls, export: Mapping[str, Any]) -> TranscriptParitySettings:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: float(value) for key, value in export.items() if key in known})


@dataclass(frozen=True)
class EngineRun:
    """One engine's transcripts of a set of clips, and the seconds they took."""

    texts: list[str]
    seconds: float


def timed_transcripts(
    transcriber: ClipTranscriber, samples: Sequence[np.ndarray], options: DecodingOptions
) -> EngineRun:
    """``transcriber``'s texts of ``samples``, timed (after a one-clip warm-up, left out of the time)."""
    transcriber.transcribe_clips(samples[:1], options)
    started = time.perf_counter()
    transcripts = transcriber.transcribe_clips(samples, options)
    return EngineRun([t.text for t in transcripts], time.perf_counter() - started)


def compare_runs(references: list[str], merged: EngineRun, exported: EngineRun) -> dict[str, Any]:
    """CER and clips/s of each engine on one set, and the transcripts they agree on."""
    identical = sum(a == b for a, b in zip(merged.texts, exported.texts, strict=True))
    n = len(references)
    return {
        "n": n,
        "cer": {
            "merged": character_error_rate(references, merged.texts),
            "ctranslate2": character_error_rate(references, exported.texts),
        },
        "clips_per_second": {
            "merged": n / merged.seconds if merged.seconds else None,
            "ctranslate2": n / exported.seconds if exported.seconds else None,
        },
        "identical": identical,
        "identical_share": identical / n if n else 1.0,
        # Which clips differ, and how: the first place to look when an export fails.
        "transcripts": {"merged": merged.texts, "ctranslate2": exported.texts},
    }


def parity_failures(
    clips: Mapping[str, Any],
    recordings: Mapping[str, Any],
    quantization: str,
    settings: TranscriptParitySettings,
) -> list[str]:
    """What makes the export fail, one line each (none: it passes).

    An unquantized export must give the merged model's transcripts on the
    clips, decoded in the same window; a quantized one must keep the CER of
    the clips and of the long recordings within ``max_cer_gap``.
    """
    if quantization in UNQUANTIZED:
        if clips["identical_share"] < settings.min_identical_share:
            return [
                f"{clips['identical']} of {clips['n']} test clips' transcripts equal the merged "
                f"model's (export.min_identical_share: {settings.min_identical_share:g})"
            ]
        return []
    failures = []
    for name, figures in (("test clips", clips), ("long recordings", recordings)):
        gap = abs(figures["cer"]["ctranslate2"] - figures["cer"]["merged"])
        if gap > settings.max_cer_gap:
            failures.append(
                f"{name}: CER {figures['cer']['ctranslate2']:.3f} against the merged model's "
                f"{figures['cer']['merged']:.3f} (export.max_cer_gap: {settings.max_cer_gap:g})"
            )
    return failures
