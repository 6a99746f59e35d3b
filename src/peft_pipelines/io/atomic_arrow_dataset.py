"""An all-or-nothing variant of kedro-datasets' ``huggingface.ArrowDataset``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from datasets import Dataset, DatasetDict
from datasets.fingerprint import get_temporary_cache_files_directory
from kedro_datasets.huggingface import ArrowDataset

from peft_pipelines.io._atomic import replace_folder_atomically


def scratch_arrow_file(tag: str) -> str:
    """A fresh Arrow file path in the ``datasets`` session scratch folder.

    ``map`` writes its output there batch by batch instead of building it in
    memory; the catalog then saves the result where it belongs, and the scratch
    folder is deleted when the process exits.
    """
    return str(Path(get_temporary_cache_files_directory()) / f"{tag}-{uuid.uuid4().hex}.arrow")


class AtomicArrowDataset(ArrowDataset):
    """``ArrowDataset`` whose save either completes or leaves nothing loadable behind.

    ``Dataset.save_to_disk`` writes shards straight into the target folder, so a
    run killed mid-save leaves a folder that a later ``kedro run --from-nodes``
    would load as if it were whole. Here the data is written to a hidden staging
    folder beside the target and renamed into place only once complete; a killed
    save leaves either the previous complete version or no dataset at all, and
    its staging folder is swept away by the next save. Remote filesystems
    (``s3://``...) have no atomic rename, so they keep the plain behaviour.

    Example catalog entry::

        whisper_zh.corpus_16k:
          type: peft_pipelines.io.AtomicArrowDataset
          path: data/03_primary/whisper_zh/corpus_16k
    """

    def _save_dataset(self, data: Dataset, save_path: str) -> None:
        self._write_then_rename(
            lambda path: super(AtomicArrowDataset, self)._save_dataset(data, path), save_path
        )

    def _save_dataset_dict(self, data: DatasetDict, save_path: str) -> None:
        self._write_then_rename(
            lambda path: super(AtomicArrowDataset, self)._save_dataset_dict(data, path), save_path
        )

    def _write_then_rename(self, write: Callable[[str], None], save_path: str) -> None:
        if self._protocol != "file":
            write(save_path)
            return
        replace_folder_atomically(Path(save_path), lambda staging: write(str(staging)))
