"""The one evaluation loop for transcripts: the base (adapter off) and the fine-tuned model on the same audio."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from peft import PeftModel

from peft_pipelines.speech.decoding import Transcript
from peft_pipelines.speech.metrics import character_error_rate, word_error_rate
from peft_pipelines.training.comparison import Side, on_each_side


def error_rates(references: list[str], predictions: list[str]) -> dict[str, Any]:
    """WER, CER (normalised, unclipped fractions) and the number of utterances."""
    return {
        "wer": word_error_rate(references, predictions),
        "cer": character_error_rate(references, predictions),
        "n": len(references),
    }


def transcribe_and_score(
    model: PeftModel,
    references: list[str],
    transcribe: Callable[[], list[Transcript]],
) -> tuple[dict[Side, dict[str, Any]], dict[Side, list[str]]]:
    """Run ``transcribe`` (one :class:`Transcript` per utterance) on each side (:func:`on_each_side`); score each side.

    Returns the scores per side (``wer``, ``cer``, ``n``, ``loops_cut``,
    ``no_speech_skipped``: utterances the voice activity detector heard no
    speech in, not decoded and scored as "") and the transcripts per side, in
    the order of ``references``.
    """
    transcripts = on_each_side(model, transcribe)
    texts = {side: [t.text for t in results] for side, results in transcripts.items()}
    scores = {
        side: {
            **error_rates(references, texts[side]),
            "loops_cut": int(sum(t.loop_cut for t in results)),
            "no_speech_skipped": int(sum(t.no_speech for t in results)),
        }
        for side, results in transcripts.items()
    }
    return scores, texts
