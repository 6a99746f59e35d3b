"""Speech: audio decoding, log-mel features, Whisper models and their catalog datasets, transcription, scoring.

Also the shared audio-features sub-pipeline (:mod:`peft_pipelines.speech.pipeline`).
"""

from peft_pipelines.speech.datasets import CTranslate2WhisperDataset, TinyRandomWhisperDataset

__all__ = ["CTranslate2WhisperDataset", "TinyRandomWhisperDataset"]
