"""Write-then-rename, so a save killed midway never leaves something loadable but incomplete."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def replace_folder_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(staging)`` on a hidden sibling folder, then rename it to ``target``.

    A killed save leaves either the previous complete ``target`` or none, plus
    a ``.<name>.partial-*`` folder that the next save sweeps away.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:12]}"
    try:
        write(staging)
        if target.exists():
            retired = target.parent / f".{target.name}.partial-retired-{uuid.uuid4().hex[:12]}"
            os.replace(target, retired)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a hidden sibling file, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.partial-{uuid.uuid4().hex[:12]}")
    staging.write_text(text)
    os.replace(staging, path)
