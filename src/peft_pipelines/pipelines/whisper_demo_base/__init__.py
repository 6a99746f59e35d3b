"""``whisper_demo_base``: the tiny Whisper, pretrained here on synthetic Mandarin, that ``whisper_zh`` starts from offline."""

from peft_pipelines.pipelines.whisper_demo_base.pipeline import create_pipeline

__all__ = ["create_pipeline"]
