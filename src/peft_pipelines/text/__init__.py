"""Text: quotes corpora, causal language models and their catalog datasets, perplexity, generation."""

from peft_pipelines.text.datasets import GGUFCausalLMDataset, TinyRandomOPTDataset

__all__ = ["GGUFCausalLMDataset", "TinyRandomOPTDataset"]
