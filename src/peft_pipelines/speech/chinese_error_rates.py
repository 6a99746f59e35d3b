"""The pipeline's Chinese CER and WER as a Hugging Face ``evaluate`` metric, for a notebook.

This file is an ``evaluate`` module script, loaded by its path (offline: no Hub access)::

    import evaluate
    from peft_pipelines.speech.metrics import metric_path

    cer_wer = evaluate.load(metric_path())
    cer_wer.compute(predictions=["今天天氣很好"], references=["今天天气很好。"])
    # {'cer': 0.0, 'wer': 0.0}

Both figures are the pipeline's own (:func:`~peft_pipelines.speech.metrics.character_error_rate`
and :func:`~peft_pipelines.speech.metrics.word_error_rate`: the same normaliser, jiwer
underneath), so a notebook's score of a model equals the one ``metrics.json`` reports.
"""

from __future__ import annotations

import datasets
import evaluate

from peft_pipelines.speech.metrics import NORMALISER, character_error_rate, word_error_rate

_DESCRIPTION = (
    "Corpus character and word error rates of Mandarin transcripts, scored as the "
    f"peft-pipelines whisper_zh pipeline scores them. Both sides are normalised first: {NORMALISER}. "
    "CER is the figure that matters: Chinese is written without spaces, so WER counts "
    "whole sentences."
)
_INPUTS = """
Args:
    predictions (list of str): the transcripts to score.
    references (list of str): the reference sentences, one per prediction.
Returns:
    cer (float): character edits over reference characters (spaces ignored); above 1 with
        many insertions.
    wer (float): word edits over reference words, words being whitespace-separated.
Raises:
    ValueError: every reference is empty after normalisation (the rates are undefined).
"""


class ChineseErrorRates(evaluate.Metric):
    """CER and WER after OpenCC t2s, NFKC, lower case and punctuation removal."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_INPUTS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            codebase_urls=["https://github.com/jitsi/jiwer"],
        )

    def _compute(self, predictions: list[str], references: list[str]) -> dict[str, float]:
        return {
            "cer": character_error_rate(references, predictions),
            "wer": word_error_rate(references, predictions),
        }
