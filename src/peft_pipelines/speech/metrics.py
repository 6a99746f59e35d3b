"""Character and word error rates for Chinese transcripts, computed with jiwer.

Chinese is written without spaces, so WER on raw text counts whole sentences:
CER is the figure that matters. Both sides are normalised first with
:func:`normalise_transcript`: Traditional characters to Simplified (OpenCC
``t2s``: Whisper often answers in Traditional script, which is not an error
of hearing), NFKC (full-width forms to half-width), Latin lower-cased,
punctuation and symbols of both widths removed, whitespace collapsed (and
removed for CER).

The same two figures, for a notebook, are the ``evaluate`` metric
:mod:`peft_pipelines.speech.chinese_error_rates`: ``evaluate.load(metric_path())``.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from importlib.resources import files
from typing import Any

import jiwer

METRIC_SCRIPT = "chinese_error_rates.py"

NORMALISER = (
    "OpenCC t2s (Traditional to Simplified), NFKC, lower case, Unicode punctuation and "
    "symbols removed, whitespace collapsed (removed for CER)"
)


@cache
def _traditional_to_simplified() -> Any:  # opencc has no type hints
    import opencc  # noqa: PLC0415 (its dictionaries load on first use)

    return opencc.OpenCC("t2s")


def normalise_transcript(text: str) -> str:
    """The text as both sides are scored: see :data:`NORMALISER`."""
    text = _traditional_to_simplified().convert(text)
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    return " ".join(text.split())


def _pairs(references: list[str], predictions: list[str]) -> tuple[list[str], list[str]]:
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
    return [normalise_transcript(r) for r in references], [
        normalise_transcript(p) for p in predictions
    ]


def character_error_rate(references: list[str], predictions: list[str]) -> float:
    """Corpus CER: character edits over reference characters (spaces ignored), unclipped (>1 with insertions)."""
    refs, hyps = _pairs(references, predictions)
    refs, hyps = [r.replace(" ", "") for r in refs], [h.replace(" ", "") for h in hyps]
    if not any(refs):
        raise ValueError("every reference is empty after normalisation: CER is undefined")
    return float(jiwer.cer(refs, hyps))


def word_error_rate(references: list[str], predictions: list[str]) -> float:
    """Corpus WER on whitespace-separated words, as the seed reported it (for Chinese: whole sentences)."""
    refs, hyps = _pairs(references, predictions)
    if not any(refs):
        raise ValueError("every reference is empty after normalisation: WER is undefined")
    return float(jiwer.wer(refs, hyps))


def metric_path() -> str:
    """The path of the ``evaluate`` metric script that scores as this module does.

    ``evaluate.load(metric_path())`` loads it from the installed package, with no
    Hub access; its ``compute(predictions=..., references=...)`` returns ``cer`` and
    ``wer`` equal to :func:`character_error_rate` and :func:`word_error_rate`.
    """
    # An installed package is a folder on disk (wheel or editable), so the resource is a file.
    return str(files(__package__) / METRIC_SCRIPT)
