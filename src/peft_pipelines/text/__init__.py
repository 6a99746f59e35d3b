"""Text corpora and causal language models for the ``opt_quotes`` pipeline."""
