"""A causal LM exported to CTranslate2, measured as the pipeline measures the transformers model.

Perplexity is scored the same way as :func:`peft_pipelines.text.causal_lm.perplexity`
(every token after the first of each sequence, exp of the mean NLL over all
scored tokens); greedy generation returns token ids and tokens per second, as
:func:`peft_pipelines.text.causal_lm.greedy_token_ids` does for transformers.
"""

from __future__ import annotations

import math
import time
from typing import Any

from transformers import PreTrainedTokenizerBase


def ctranslate2_perplexity(
    generator: Any,
    tokenizer: PreTrainedTokenizerBase,
    token_ids: list[list[int]],
    batch_size: int = 8,
) -> dict[str, Any]:
    """exp(mean NLL) of ``token_ids`` under a ``ctranslate2.Generator`` (``score_batch``).

    ``score_batch`` takes token strings and scores each token given the ones
    before it, so the first token of a sequence is not scored, as in the
    transformers figure; no truncation (``max_input_length=0``).
    """
    tokens = [tokenizer.convert_ids_to_tokens(ids) for ids in token_ids]
    results = generator.score_batch(tokens, max_batch_size=batch_size, max_input_length=0)
    total_nll = -sum(sum(result.log_probs) for result in results)
    total_tokens = sum(len(result.log_probs) for result in results)
    mean_nll = total_nll / max(total_tokens, 1)
    return {
        "perplexity": math.exp(mean_nll),
        "mean_nll": mean_nll,
        "tokens": total_tokens,
        "n": len(token_ids),
    }


def ctranslate2_greedy_token_ids(
    generator: Any,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    max_new_tokens: int,
) -> tuple[list[list[int]], float]:
    """Greedy continuations (ids, without the prompt) of ``prompts`` in one batch, and tokens per second."""
    start_tokens = [
        tokenizer.convert_ids_to_tokens(tokenizer(prompt)["input_ids"]) for prompt in prompts
    ]
    started = time.perf_counter()
    results = generator.generate_batch(
        start_tokens,
        max_length=max_new_tokens,
        beam_size=1,
        sampling_topk=1,
        include_prompt_in_result=False,
    )
    seconds = time.perf_counter() - started
    ids = [list(result.sequences_ids[0]) for result in results]
    return ids, sum(map(len, ids)) / max(seconds, 1e-9)


def leading_tokens_agreement(
    reference: list[list[int]], exported: list[list[int]], count: int
) -> list[dict[str, Any]]:
    """Per prompt: the first ``count`` greedy tokens of the PeftModel and of the export, and how many lead identically."""
    rows = []
    for reference_ids, exported_ids in zip(reference, exported, strict=True):
        ours, theirs = reference_ids[:count], exported_ids[:count]
        pairs = zip(ours, theirs, strict=False)  # one side may end early (end-of-text)
        same = next((i for i, (a, b) in enumerate(pairs) if a != b), None)
        leading = min(len(ours), len(theirs)) if same is None else same
        rows.append(
            {
                "identical": ours == theirs,
                "leading_identical": leading,
                "peft": ours,
                "ctranslate2": theirs,
            }
        )
    return rows
