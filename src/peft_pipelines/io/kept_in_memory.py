"""A dataset that keeps what it loaded or saved in memory for the rest of the run, its files those of the dataset it wraps."""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError, MemoryDataset, Version
from kedro.io.core import VERSIONED_FLAG_KEY


class KeptInMemoryDataset(AbstractDataset[Any, Any]):
    """Kedro's ``CachedDataset``, with the dataset that reads and writes the files public (:attr:`dataset`).

    The first load or save keeps the object in memory (``copy_mode: assign``:
    the object itself), so the later nodes of the same run get it without
    reading the files again; reloading an adapter would quantize its base
    again. A run that starts later (``--tags model``, ``--from-nodes``) reads
    the files. Whoever asks which files hold the data (the fingerprints, the
    input checks, the run summary) asks :attr:`dataset`, a public attribute,
    where ``CachedDataset`` keeps it private.

    Example catalog entry (``versioned`` is the wrapper's, as for ``CachedDataset``)::

        "{namespace}.adapter":
          type: peft_pipelines.io.KeptInMemoryDataset
          copy_mode: assign
          versioned: true
          dataset:
            type: peft_pipelines.io.PeftAdapterDataset
            path: data/06_models/{namespace}/adapter
            base_model_manifest: data/06_models/{namespace}/base_model_manifest.json
    """

    # As for CachedDataset: to the runner the data is in memory (Kedro's documented switch
    # for datasets that are not persistent), and ParallelRunner keeps it in one process.
    _EPHEMERAL = True
    _SINGLE_PROCESS = True

    def __init__(
        self,
        *,
        dataset: AbstractDataset | dict[str, Any],
        version: Version | None = None,
        copy_mode: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if isinstance(dataset, dict):
            config = dict(dataset)
            if VERSIONED_FLAG_KEY in config:
                raise DatasetError(
                    f"say `{VERSIONED_FLAG_KEY}: true` beside `type: KeptInMemoryDataset`, "
                    "not in the dataset it wraps"
                )
            if version is not None:
                config[VERSIONED_FLAG_KEY] = True
                dataset = AbstractDataset.from_config("kept", config, version.load, version.save)
            else:
                dataset = AbstractDataset.from_config("kept", config)
        self.dataset: AbstractDataset = dataset
        self._memory = MemoryDataset(copy_mode=copy_mode)
        self.metadata = metadata

    def load(self) -> Any:
        if self._memory.exists():
            return self._memory.load()
        data = self.dataset.load()
        self._memory.save(data)
        return data

    def save(self, data: Any) -> None:
        self.dataset.save(data)
        self._memory.save(data)

    def _exists(self) -> bool:
        return self._memory.exists() or self.dataset.exists()

    def _release(self) -> None:
        self._memory.release()
        self.dataset.release()

    def _describe(self) -> dict[str, Any]:
        return {"dataset": str(self.dataset), "in_memory": self._memory.exists()}
