"""``whisper_zh``: a Common Voice-format Mandarin corpus to Whisper features and labels."""

from peft_pipelines.pipelines.whisper_zh.pipeline import create_pipeline

__all__ = ["create_pipeline"]
