"""``whisper_zh``: a Common Voice-format Mandarin corpus to a LoRA adapter on Whisper and its CER/WER."""

from peft_pipelines.pipelines.whisper_zh.pipeline import create_pipeline

__all__ = ["create_pipeline"]
