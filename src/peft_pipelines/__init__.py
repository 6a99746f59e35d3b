"""peft-pipelines: reproducible PEFT/LoRA fine-tuning as Kedro pipelines."""

__version__ = "0.1.0"
