"""Model folders: how files of the project name them, whether they are whole, what a conversion wrote.

A manifest or adapter config names its base model's folder. A folder inside
the project (the working directory of the run that writes the file) is
written relative to the file that names it, as ``./x`` or ``../x``: the path
travels with a copied or moved project and never leads back into the
original. Hub ids and folders outside the project are written as they are.

A folder built by a conversion records the size, modification time and
SHA-256 of every file it wrote, so a file cut or changed afterwards is found
and the folder converted again.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from kedro.io import DatasetError
from safetensors import safe_open

from peft_pipelines.errors import UserError, first_line
from peft_pipelines.io.atomic_files import write_text_atomically
from peft_pipelines.io.packaged_files import sha256_of_file

logger = logging.getLogger(__name__)
# Beside a converted model: what it was converted from, and the size and hash of each file.
CONVERSION_FILE = "converted_from.json"

_RELATIVE_PREFIXES = ("./", "../")


class ModelFolderError(UserError, DatasetError):
    """A model folder that is missing or not a whole model (one line naming the folder or file)."""


def is_local_path(name_or_path: str) -> bool:
    """Whether ``name_or_path`` names a folder rather than a Hub id (``owner/name`` or ``name``).

    A Hub id has at most one ``/`` and never starts with ``.``, ``/`` or ``~``;
    an id-like name that exists as a folder is that folder, as for ``from_pretrained``.
    """
    text = str(name_or_path)
    return text.startswith((".", "/", "~")) or text.count("/") > 1 or Path(text).exists()


def location_as_written(name_or_path: str, folder: Path) -> str:
    """How a file in ``folder`` names a model: relative to ``folder`` if both are inside the project."""
    if not os.path.isabs(name_or_path):
        return name_or_path
    project = os.getcwd()
    target, here = os.path.abspath(name_or_path), os.path.abspath(folder)
    if os.path.commonpath([project, target]) != project or (
        os.path.commonpath([project, here]) != project
    ):
        return name_or_path
    relative = Path(os.path.relpath(target, here)).as_posix()
    return relative if relative.startswith("../") else f"./{relative}"


def location_as_read(stored: str, folder: Path) -> str:
    """The absolute folder a path written by :func:`location_as_written` in ``folder`` names; others as they are."""
    if str(stored).startswith(_RELATIVE_PREFIXES):
        return os.path.normpath(os.path.join(os.path.abspath(folder), stored))
    return stored


def check_safetensors(file: Path, advice: str) -> None:
    """Raise :class:`ModelFolderError` unless ``file``'s header is whole and its data all there.

    safetensors checks, on opening, that the header parses and that the
    tensors it lists fill the file to its end: a cut file fails here without
    its weights being read.
    """
    if not file.is_file():
        raise ModelFolderError(f"{file} is missing: {advice}")
    try:
        with safe_open(str(file), framework="np"):
            pass
    except Exception as error:
        raise ModelFolderError(
            f"{file} is truncated or corrupt ({first_line(error)}): {advice}"
        ) from error


def check_model_folder(folder: Path, advice: str) -> None:
    """Raise :class:`ModelFolderError` unless ``folder`` holds a readable ``config.json`` and whole weights.

    Cheap: the config is parsed and each safetensors file's header checked
    against its size (:func:`check_safetensors`); no weights are read.
    ``advice`` ends the message (what to do).
    """
    if not folder.is_dir():
        raise ModelFolderError(f"no model folder at {folder}: {advice}")
    config = folder / "config.json"
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFolderError(
            f"{folder} is not a model folder (no config.json): {advice}"
        ) from None
    except (OSError, ValueError) as error:
        raise ModelFolderError(f"{config} is unreadable ({first_line(error)}): {advice}") from error
    weights = sorted(folder.glob("*.safetensors"))
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        except (OSError, ValueError, KeyError, AttributeError) as error:
            raise ModelFolderError(
                f"{index} is unreadable ({first_line(error)}): {advice}"
            ) from error
        if missing := sorted(shard for shard in shards if not (folder / shard).is_file()):
            raise ModelFolderError(f"{folder / missing[0]} is missing: {advice}")
    if not weights and not (folder / "pytorch_model.bin").is_file():
        raise ModelFolderError(f"{folder} holds no model weights (*.safetensors): {advice}")
    for file in weights:
        check_safetensors(file, advice)


def _file_entry(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256_of_file(path)}


def write_conversion_record(folder: Path, record_name: str, source: dict[str, Any]) -> None:
    """Write ``record_name`` in ``folder``: ``source`` and each other file's size, time and SHA-256.

    Called on the staging folder once every file is written; renaming the
    folder into place keeps the times.
    """
    files = {
        path.relative_to(folder).as_posix(): _file_entry(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != record_name
    }
    (folder / record_name).write_text(json.dumps({**source, "files": files}, indent=1))


def _first_change(folder: Path, files: dict[str, Any]) -> tuple[str | None, list[str]]:
    """What differs first from the record (none: ``None``), and the files whose hash had to confirm them.

    The size catches a cut file; the hash is computed only for a file whose
    modification time is not the one recorded (rewritten, or copied without
    its times), so an untouched folder costs one ``stat`` per file.
    """
    rehashed = []
    for name, entry in files.items():
        path = folder / name
        if not path.is_file():
            return f"{path} is missing", rehashed
        stat = path.stat()
        if stat.st_size != entry["size"]:
            return f"{path} has {stat.st_size} bytes, not the {entry['size']} written", rehashed
        if stat.st_mtime_ns != entry["mtime_ns"]:
            if sha256_of_file(path) != entry["sha256"]:
                return f"{path} changed since it was written (SHA-256)", rehashed
            rehashed.append(name)
    return None, rehashed


def conversion_is_current(folder: Path, record_name: str, source: dict[str, Any]) -> bool:
    """Whether ``folder`` holds a conversion of ``source`` whose files are the ones it wrote.

    Not current (to be converted again): no record; a record of other
    sources; and, with a warning naming the file, a record that is unreadable
    or lists no files (written by an older version) or a file that is
    missing, cut or changed (:func:`_first_change`). Files confirmed by their
    hash get their new times recorded, so the next check is a ``stat`` again.
    """
    record_file = folder / record_name
    if not record_file.is_file():
        return False
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
        files = record.pop("files", None)
        if record != source:
            logger.info("%s records other sources: converting again", record_file)
            return False
        if not files:
            logger.warning("%s lists no hashes of the files: converting again", record_file)
            return False
        problem, rehashed = _first_change(folder, files)
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as error:
        logger.warning("%s is unreadable (%s): converting again", record_file, first_line(error))
        return False
    if problem:
        logger.warning("%s: converting %s again", problem, folder)
        return False
    if rehashed:
        for name in rehashed:
            files[name]["mtime_ns"] = (folder / name).stat().st_mtime_ns
        try:
            write_text_atomically(record_file, json.dumps({**record, "files": files}, indent=1))
        except OSError:
            pass  # a read-only folder: its files are hashed again next time, nothing is wrong
    return True
