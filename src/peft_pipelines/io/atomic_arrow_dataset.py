"""An all-or-nothing variant of kedro-datasets' ``huggingface.ArrowDataset``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pyarrow as pa
from datasets import Dataset, DatasetDict
from datasets.fingerprint import get_temporary_cache_files_directory
from kedro.io import DatasetError
from kedro.io.core import get_filepath_str
from kedro_datasets.huggingface import ArrowDataset

from peft_pipelines.errors import UserError
from peft_pipelines.io.atomic_files import replace_folder_atomically

# Every Arrow IPC stream ends with this marker (continuation token, zero length).
_END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"
_WRITE_AGAIN = "rerun the stage that writes it (kedro run --to-outputs <this dataset>)"


class IncompleteDatasetError(UserError, ValueError):
    """A saved Arrow dataset that lacks a file or holds a cut one (one line naming it)."""


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

    :meth:`preflight` checks, before a run reads it, that every shard the
    saved dataset lists is there and whole.

    Example catalog entry::

        whisper_zh.corpus_16k:
          type: peft_pipelines.io.AtomicArrowDataset
          path: data/03_primary/whisper_zh/corpus_16k
    """

    def preflight(self) -> None:
        """Raise :class:`IncompleteDatasetError` unless the saved dataset is whole.

        Its splits (``dataset_dict.json``) and each split's shards (its
        ``state.json``) must be there, and each shard a whole Arrow stream: its
        messages are walked through a memory map (no column data is read) up
        to the end-of-stream marker. Remote datasets are not checked.
        """
        if self._protocol != "file":
            return
        try:
            root = Path(get_filepath_str(self._get_load_path(), self._protocol))
        except DatasetError:  # versioned, and no version saved yet
            raise IncompleteDatasetError(
                f"no saved dataset at {self._filepath}: {_WRITE_AGAIN}"
            ) from None
        if not root.is_dir():
            raise IncompleteDatasetError(f"no saved dataset at {root}: {_WRITE_AGAIN}")
        splits = root / "dataset_dict.json"
        folders = (
            [root / name for name in _listed(splits, "splits")] if splits.is_file() else [root]
        )
        for folder in folders:
            for entry in _listed(folder / "state.json", "_data_files"):
                name = entry.get("filename") if isinstance(entry, dict) else None
                if not isinstance(name, str):
                    raise IncompleteDatasetError(
                        f"{folder / 'state.json'} is unreadable: {_WRITE_AGAIN}"
                    )
                check_arrow_stream(folder / name)

    def save(self, data: Dataset | DatasetDict) -> None:
        """``save_to_disk`` into a staging folder renamed into place when whole (see the class docstring)."""
        if not isinstance(data, Dataset | DatasetDict):
            super().save(data)  # ArrowDataset's own refusal of other types, its message
            return
        save_path = get_filepath_str(self._get_save_path(), self._protocol)

        def write(path: str) -> None:
            data.save_to_disk(path, storage_options=self._storage_options, **self._save_args)

        if self._protocol == "file":
            replace_folder_atomically(Path(save_path), lambda staging: write(str(staging)))
        else:
            write(save_path)  # no atomic rename on a remote filesystem
        self._invalidate_cache()

    def fingerprint_paths(self) -> list[Path]:
        """The saved dataset's folder (the latest version, if versioned); none if remote or never saved."""
        if self._protocol != "file":
            return []
        try:
            return [Path(get_filepath_str(self._get_load_path(), self._protocol))]
        except DatasetError:  # versioned, and no version saved yet
            return []


def _listed(file: Path, key: str) -> list:
    """``file``'s JSON list under ``key``: the splits of a saved dataset, or a split's shards."""
    try:
        listed = json.loads(file.read_text(encoding="utf-8"))[key]
    except FileNotFoundError:
        raise IncompleteDatasetError(f"{file} is missing: {_WRITE_AGAIN}") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise IncompleteDatasetError(f"{file} is unreadable ({error}): {_WRITE_AGAIN}") from error
    if not isinstance(listed, list):
        raise IncompleteDatasetError(f"{file} lists no {key}: {_WRITE_AGAIN}")
    return listed


def check_arrow_stream(shard: Path) -> None:
    """Raise :class:`IncompleteDatasetError` unless ``shard`` is a whole Arrow IPC stream file."""
    if not shard.is_file():
        raise IncompleteDatasetError(f"{shard} is missing: {_WRITE_AGAIN}")
    try:
        with pa.memory_map(str(shard)) as source:
            for _batch in pa.ipc.open_stream(source):
                pass
            source.seek(max(0, source.size() - len(_END_OF_STREAM)))
            whole = source.read() == _END_OF_STREAM
    except (OSError, pa.ArrowInvalid) as error:
        raise IncompleteDatasetError(
            f"{shard} is truncated or corrupt ({error}): {_WRITE_AGAIN}"
        ) from error
    if not whole:
        raise IncompleteDatasetError(f"{shard} is truncated (no end of stream): {_WRITE_AGAIN}")
