"""Catalog datasets for models: a base model as a manifest, an adapter as a PEFT folder.

Neither pickles weights. A prepared 8-bit base is re-created from its manifest
(model id or folder, revision, quantization, prepare settings) in seconds; an
adapter is the few-MB folder ``save_pretrained`` writes, with the base's
manifest beside it so loading needs nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from peft import PeftModel

from peft_pipelines.io._atomic import replace_folder_atomically, write_text_atomically
from peft_pipelines.training.base_model import load_base_model

MANIFEST_FILE = "base_model_manifest.json"


class BaseModelDataset(AbstractDataset[dict, Any]):
    """Saves a base-model manifest (JSON); loads the model it describes, quantized and prepared.

    Example catalog entry::

        whisper_zh.base_model:
          type: peft_pipelines.io.BaseModelDataset
          filepath: data/06_models/whisper_zh/base_model.json
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> Any:
        model = load_base_model(self.load_manifest())
        model.peft_pipelines_manifest = self.load_manifest()
        return model

    def load_manifest(self) -> dict[str, Any]:
        if not self._filepath.is_file():
            raise DatasetError(
                f"No base-model manifest at {self._filepath}: run the base-model node first"
            )
        return json.loads(self._filepath.read_text())

    def save(self, data: dict[str, Any]) -> None:
        write_text_atomically(self._filepath, json.dumps(data, indent=1, sort_keys=True))

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class PeftAdapterDataset(AbstractDataset[PeftModel, PeftModel]):
    """A PEFT adapter folder (``save_pretrained``), loaded back onto its base with ``PeftModel.from_pretrained``.

    The model to save must carry ``peft_pipelines_manifest`` (set by
    :class:`BaseModelDataset` and kept by the training core): it is written
    beside the adapter, so loading rebuilds the same quantized base first. The
    folder is written to a staging folder and renamed into place when whole.

    Example catalog entry::

        whisper_zh.adapter:
          type: peft_pipelines.io.PeftAdapterDataset
          path: data/06_models/whisper_zh/adapter
          load_args: {is_trainable: false}
    """

    def __init__(
        self,
        *,
        path: str,
        load_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._path = Path(path)
        self._load_args = dict(load_args or {})
        self.metadata = metadata

    def load(self) -> PeftModel:
        manifest_file = self._path / MANIFEST_FILE
        if not manifest_file.is_file():
            raise DatasetError(f"No adapter at {self._path} (or it lacks {MANIFEST_FILE})")
        manifest = json.loads(manifest_file.read_text())
        model = PeftModel.from_pretrained(
            load_base_model(manifest), str(self._path), **self._load_args
        )
        model.peft_pipelines_manifest = manifest
        return model

    def save(self, data: PeftModel) -> None:
        manifest = getattr(data, "peft_pipelines_manifest", None) or getattr(
            data.get_base_model(), "peft_pipelines_manifest", None
        )
        if manifest is None:
            raise DatasetError(
                "the model carries no peft_pipelines_manifest: it did not come from BaseModelDataset"
            )

        def write(staging: Path) -> None:
            data.save_pretrained(str(staging))
            (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, sort_keys=True))

        replace_folder_atomically(self._path, write)

    def _exists(self) -> bool:
        return (self._path / MANIFEST_FILE).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "load_args": self._load_args}


class TokenizerDataset(AbstractDataset[Any, Any]):
    """A tokenizer folder (``save_pretrained``), loaded back with ``AutoTokenizer.from_pretrained``.

    Written to a staging folder and renamed into place when whole.

    Example catalog entry::

        opt_quotes.tokenizer:
          type: peft_pipelines.io.TokenizerDataset
          path: data/06_models/opt_quotes/tokenizer
    """

    def __init__(self, *, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> Any:
        from transformers import AutoTokenizer  # noqa: PLC0415

        if not (self._path / "tokenizer_config.json").is_file():
            raise DatasetError(f"No tokenizer at {self._path}")
        return AutoTokenizer.from_pretrained(str(self._path))

    def save(self, data: Any) -> None:
        replace_folder_atomically(self._path, lambda staging: data.save_pretrained(str(staging)))

    def _exists(self) -> bool:
        return (self._path / "tokenizer_config.json").is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
