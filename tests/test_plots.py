"""Report figures: what they show and what their titles say."""

from __future__ import annotations

import io

import pytest
from matplotlib.figure import Figure

from peft_pipelines.plots import (
    RANDOM_BASE_TITLE,
    error_rate_figure,
    loss_curve_figure,
    perplexity_figure,
    titled,
)

LOG = {
    "resumed_from": None,
    "base_model_random": False,
    "log_history": [
        {"loss": 2.0, "step": 2},
        {"loss": 1.5, "step": 4},
        {"eval_loss": 1.8, "step": 4},
        {"loss": 1.2, "step": 6},
        {"eval_loss": 1.6, "step": 6},
        {"loss": 1.0, "step": 8},
        {"eval_loss": 1.5, "step": 8},
        {"train_runtime": 10.0, "step": 8},
    ],
}


def _png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def test_the_loss_curve_plots_training_and_evaluation_loss_against_step():
    figure = loss_curve_figure(LOG, "opt_quotes")
    (axes,) = figure.axes
    train, evaluation = axes.get_lines()
    assert list(train.get_xdata()) == [2, 4, 6, 8]
    assert list(evaluation.get_xdata()) == [4, 6, 8]
    assert list(evaluation.get_ydata()) == [1.8, 1.6, 1.5]
    assert axes.get_xlabel() == "optimizer step" and "nats" in axes.get_ylabel()
    assert "opt_quotes" in axes.get_title() and RANDOM_BASE_TITLE not in axes.get_title()
    assert _png_bytes(figure).startswith(b"\x89PNG")


def test_a_random_base_says_so_in_every_title():
    random_log = {**LOG, "base_model_random": True}
    metrics = {
        "base_model_random": True,
        "split": "test",
        "base": {"cer": 0.9, "wer": 1.0, "n": 25, "perplexity": 50_000.0, "tokens": 900},
        "finetuned": {"cer": 0.8, "wer": 1.0, "n": 25, "perplexity": 40_000.0, "tokens": 900},
    }
    for figure in (
        loss_curve_figure(random_log, "whisper_zh"),
        error_rate_figure(metrics, "whisper_zh"),
        perplexity_figure(metrics, "opt_quotes"),
    ):
        assert RANDOM_BASE_TITLE in figure.axes[0].get_title()


def test_error_rates_are_shown_in_per_cent_base_beside_fine_tuned():
    metrics = {
        "base_model_random": False,
        "split": "test",
        "base": {"cer": 0.62, "wer": 0.9, "n": 25},
        "finetuned": {"cer": 0.31, "wer": 0.7, "n": 25},
    }
    axes = error_rate_figure(metrics, "whisper_zh").axes[0]
    heights = sorted(round(bar.get_height(), 6) for bar in axes.patches)
    assert heights == pytest.approx([31.0, 62.0, 70.0, 90.0])
    assert [t.get_text() for t in axes.get_xticklabels()] == ["CER", "WER"]
    assert axes.get_ylabel() == "error rate (%)"

    metrics["long_utterances"] = {"base": {"cer": 0.48, "n": 5}, "finetuned": {"cer": 0.4, "n": 5}}
    axes = error_rate_figure(metrics, "whisper_zh").axes[0]
    assert sorted(round(b.get_height(), 6) for b in axes.patches) == pytest.approx(
        [31.0, 40.0, 48.0, 62.0, 70.0, 90.0]
    )
    assert axes.get_xticklabels()[2].get_text() == "CER, long\n(5 recordings)"

    metrics["guard"] = {"set": False, "note": "no guard set"}
    assert len(error_rate_figure(metrics, "whisper_zh").axes[0].patches) == 6
    metrics["guard"] = {"set": True, "base": {"cer": 0.21, "n": 3}, "finetuned": {"cer": 0.25}}
    axes = error_rate_figure(metrics, "whisper_zh").axes[0]
    assert 21.0 in [round(b.get_height(), 6) for b in axes.patches]
    assert axes.get_xticklabels()[3].get_text() == "CER, guard\n(3 recordings)"


def test_a_titled_figure_function_keeps_its_name_for_kedro():
    node_function = titled(perplexity_figure, "opt_quotes")
    assert node_function.__name__ == "perplexity_figure"
    metrics = {
        "base": {"perplexity": 75.5, "n": 80, "tokens": 1500},
        "finetuned": {"perplexity": 54.6, "n": 80, "tokens": 1500},
    }
    axes = node_function(metrics).axes[0]
    assert [round(bar.get_height(), 1) for bar in axes.patches] == [75.5, 54.6]
    assert "opt_quotes" in axes.get_title()
