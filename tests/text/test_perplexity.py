"""Held-out perplexity on a case small enough to work out by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoTokenizer

from peft_pipelines.text.causal_lm import perplexity, with_padding_token
from tests.scratch_project import PROJECT_ROOT

# Next-token probabilities by previous token (rows sum to 1) over 4 token ids.
BIGRAMS = torch.tensor(
    [
        [0.25, 0.50, 0.125, 0.125],
        [0.25, 0.25, 0.25, 0.25],
        [0.50, 0.25, 0.125, 0.125],
        [0.25, 0.25, 0.25, 0.25],
    ]
)


class BigramModel(torch.nn.Module):
    """Logits are the log-probabilities of the table's row for each input token."""

    def __init__(self) -> None:
        super().__init__()
        self.log_probs = torch.nn.Parameter(BIGRAMS.log())

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:  # noqa: ARG002 (the model call's signature)
        # Padding ids (GPT-2's end of text) lie outside the table; their
        # predictions must not be scored, whatever they are.
        return SimpleNamespace(logits=self.log_probs[input_ids.clamp(max=3)])


@pytest.fixture(scope="module")
def tokenizer():
    return with_padding_token(
        AutoTokenizer.from_pretrained(PROJECT_ROOT / "data/01_raw/gpt2_tokenizer")
    )


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_perplexity_is_exp_of_the_mean_nll_over_scored_tokens(tokenizer, batch_size):
    # Scored: 0->1 (1/2), 1->2 (1/4); 1->2 (1/4); 2->0 (1/2), 0->1 (1/2), 1->3 (1/4).
    # The first token of each sequence has no context and is not scored.
    sequences = [[0, 1, 2], [1, 2], [2, 0, 1, 3]]
    result = perplexity(BigramModel(), tokenizer, sequences, batch_size=batch_size)
    nll = 3 * math.log(2) + 3 * math.log(4)
    assert result["tokens"] == 6 and result["n"] == 3
    assert result["mean_nll"] == pytest.approx(nll / 6)
    assert result["perplexity"] == pytest.approx(2**1.5)


def test_perplexity_does_not_depend_on_the_order_of_the_sequences(tokenizer):
    sequences = [[0, 1, 2], [1, 2], [2, 0, 1, 3], [3, 3]]
    forward = perplexity(BigramModel(), tokenizer, sequences, batch_size=2)
    backward = perplexity(BigramModel(), tokenizer, sequences[::-1], batch_size=2)
    assert forward == pytest.approx(backward)
