"""Which files hold a dataset's data: the one question the fingerprints, the input checks and the run summary ask.

Every dataset class of this package whose data lives in files answers it
with ``fingerprint_paths()`` (:class:`HoldsDataFiles`). A dataset of
kedro-datasets does not: for those, :mod:`peft_pipelines.fingerprints` reads
the ``filepath`` or ``path`` of the dataset's catalog entry (for a versioned
one, the folder of all its versions), Kedro's public view of where it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from peft_pipelines.io.kept_in_memory import KeptInMemoryDataset


@runtime_checkable
class HoldsDataFiles(Protocol):
    """A dataset that says which files or folders hold its data."""

    def fingerprint_paths(self) -> list[Path]:
        """The files or folders whose content is the data a load reads now (the latest version, if versioned).

        A path that does not exist (nothing saved yet) holds nothing; a
        dataset built from other files (a converted model) names those.
        """
        ...


def on_disk(dataset: Any) -> Any:
    """The dataset that reads and writes the files: a :class:`KeptInMemoryDataset`'s own, else itself."""
    return dataset.dataset if isinstance(dataset, KeptInMemoryDataset) else dataset


def data_files_of(dataset: Any) -> list[Path] | None:
    """``fingerprint_paths()`` of the dataset that holds the files; None if it does not say (not one of ours)."""
    inner = on_disk(dataset)
    return (
        [Path(p) for p in inner.fingerprint_paths()] if isinstance(inner, HoldsDataFiles) else None
    )
