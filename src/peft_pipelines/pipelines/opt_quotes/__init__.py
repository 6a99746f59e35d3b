"""``opt_quotes``: LoRA fine-tuning of a causal LM on English quotes, scored by held-out perplexity."""

from peft_pipelines.pipelines.opt_quotes.pipeline import create_pipeline

__all__ = ["create_pipeline"]
