"""Catalog datasets for models: a pretrained base, its processor, and the adapters trained on it.

None pickles weights. A pretrained base loads as a *model reference* (where
its weights are, whether they are random, what it is), which the shared node
``describe_base_model`` turns into the base-model manifest (a
:class:`~peft_pipelines.io.base_model_manifest.BaseModelManifest`); an adapter is the
few-MB folder ``save_pretrained`` writes, with the manifest of its base beside it.
Files of the project name a base folder inside it relative to themselves
(:mod:`peft_pipelines.io.model_folders`), so a copied project uses its own.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

import transformers
from kedro.io import AbstractDataset, AbstractVersionedDataset, DatasetError, Version
from peft import PeftModel

from peft_pipelines.errors import UserError
from peft_pipelines.io import data_files
from peft_pipelines.io.atomic_files import replace_folder_atomically, write_text_atomically
from peft_pipelines.io.base_model_manifest import BaseModelManifest
from peft_pipelines.io.model_folders import (
    ModelFolderError,
    check_model_folder,
    check_safetensors,
    is_local_path,
)
from peft_pipelines.io.model_loading import load_base_model

MANIFEST_FILE = "base_model_manifest.json"
# Its home is io.data_files; the CLI and tests have imported it from here.
on_disk = data_files.on_disk


def model_reference(
    name_or_path: str,
    *,
    revision: str | None = None,
    random_weights: bool = False,
    note: str | None = None,
) -> dict[str, Any]:
    """What a pretrained-model dataset loads as: where the weights are, and what they are.

    A local folder is made absolute, so the model loads from any working
    directory; the files that keep it write it relative to themselves.
    """
    if Path(name_or_path).is_dir():
        name_or_path = os.path.abspath(name_or_path)
    return {
        "name_or_path": str(name_or_path),
        "revision": revision,
        "random_weights": random_weights,
        "note": note,
    }


class PretrainedModelDataset(AbstractDataset[None, dict]):
    """A pretrained model as the Hub or a folder has it: loads as a model reference, no weights read.

    ``config_path`` (optional) is a folder with the architecture's ``config.json``,
    so ``peft-pipelines-size`` can size the model without a download.

    Example catalog entry::

        whisper_zh.pretrained_model:
          type: peft_pipelines.io.PretrainedModelDataset
          name_or_path: openai/whisper-large-v2
    """

    def __init__(
        self,
        *,
        name_or_path: str,
        revision: str | None = None,
        config_path: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._name_or_path = str(name_or_path)
        self._revision = revision
        self._config_path = config_path
        self.metadata = metadata

    @property
    def location(self) -> str:
        """The Hub id or folder of the weights."""
        return self._name_or_path

    def load(self) -> dict[str, Any]:
        self.preflight()
        return model_reference(self._name_or_path, revision=self._revision)

    def preflight(self) -> None:
        """Raise :class:`~peft_pipelines.io.model_folders.ModelFolderError` if the folder is missing or not a whole model.

        A Hub id is not checked (nothing may be downloaded to check it).
        """
        if is_local_path(self._name_or_path):
            check_model_folder(
                Path(self._name_or_path),
                "point the catalog's pretrained_model entry at a model folder or a Hub id",
            )

    def load_config(self) -> transformers.PretrainedConfig:
        """The model's config alone (for sizing): from ``config_path`` if set."""
        return transformers.AutoConfig.from_pretrained(
            self._config_path or self._name_or_path, revision=self._revision
        )

    def save(self, data: None) -> None:  # noqa: ARG002 (AbstractDataset's signature; an input)
        raise DatasetError(f"{self._name_or_path} is an input: the pipelines do not write it")

    def fingerprint_paths(self) -> list[Path]:
        """The model folder; none for a Hub id (its revision is in the catalog entry)."""
        return [Path(self._name_or_path)] if is_local_path(self._name_or_path) else []

    def _describe(self) -> dict[str, Any]:
        return {"name_or_path": self._name_or_path, "revision": self._revision}


class BuiltModelDataset(AbstractDataset[None, dict]):
    """Base of the datasets that build a model folder at ``path`` (once) and load as its reference.

    A subclass writes the folder in :meth:`build` (converting a packaged file,
    or making a random test model) and reuses it while its sources are unchanged.
    """

    random_weights = False

    def __init__(
        self, *, path: str, note: str | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        self._path = Path(path)
        self._note = note
        self.metadata = metadata

    @property
    def location(self) -> str:
        """The folder the model is built into."""
        return str(self._path)

    def build(self) -> None:
        raise NotImplementedError

    def load(self) -> dict[str, Any]:
        self.build()
        return model_reference(str(self._path), random_weights=self.random_weights, note=self._note)

    def load_config(self) -> transformers.PretrainedConfig:
        """The built model's config (for sizing); the folder must have been built by a run."""
        if not (self._path / "config.json").is_file():
            raise DatasetError(
                f"{self._path} is built on the first run of the pipeline: run it first"
            )
        return transformers.AutoConfig.from_pretrained(str(self._path))

    def save(self, data: None) -> None:  # noqa: ARG002 (AbstractDataset's signature; an input)
        raise DatasetError(f"{self._path} is an input: the pipelines do not write it")

    def sources(self) -> dict[str, Any]:
        """What the folder is built from (files with their hashes, settings): it changes when they do."""
        return {}

    def fingerprint_paths(self) -> list[Path]:
        """The files the folder is built from, whose content :meth:`sources` does not pin (none by default).

        Not the built folder: it follows from its sources, and is built again when they change.
        """
        return []

    def _exists(self) -> bool:
        return (self._path / "config.json").is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "note": self._note, **self.sources()}


class TinyRandomModelDataset(BuiltModelDataset):
    """A tiny model with random weights (seeded) and a real tokenizer or processor, built into ``path``: for tests.

    ``processor`` is the folder of the real processor (or tokenizer) whose
    vocabulary and special ids the model takes; ``architecture`` holds the
    model family's config fields. A subclass says how its family is built and
    configured (:meth:`build_random`, :meth:`random_config`) and, in
    ``random_note``, what the figures of a run on it do and do not show.
    """

    random_weights = True
    random_note = "The base model has random weights: its figures measure no accuracy."

    def __init__(
        self,
        *,
        path: str,
        processor: str,
        architecture: dict[str, Any],
        seed: int = 0,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(path=path, note=self.random_note, metadata=metadata)
        self._processor = str(processor)
        self._architecture = dict(architecture)
        self._seed = int(seed)

    @staticmethod
    def build_random(
        processor: str, architecture: dict[str, Any], seed: int, out_dir: str
    ) -> object:
        """Write a random model of ``architecture`` (seeded) with its processor into ``out_dir``."""
        raise NotImplementedError

    @staticmethod
    def random_config(
        processor: str, architecture: dict[str, Any]
    ) -> transformers.PretrainedConfig:
        """The config :meth:`build_random` gives the model, without building it (for sizing)."""
        raise NotImplementedError

    def build(self) -> None:
        self.build_random(self._processor, self._architecture, self._seed, str(self._path))

    def sources(self) -> dict[str, Any]:
        return {
            "processor": self._processor,
            "architecture": self._architecture,
            "seed": self._seed,
        }

    def load_config(self) -> transformers.PretrainedConfig:
        return self.random_config(self._processor, self._architecture)


class PretrainedProcessorDataset(AbstractDataset[Any, Any]):
    """A tokenizer or processor folder (or Hub id), loaded with ``<processor_class>.from_pretrained``.

    Saving writes ``save_pretrained`` into a staging folder renamed into place when whole.

    Example catalog entries::

        whisper_zh.processor:
          type: peft_pipelines.io.PretrainedProcessorDataset
          name_or_path: data/01_raw/whisper_processor
          processor_class: WhisperProcessor

        opt_quotes.tokenizer:
          type: peft_pipelines.io.PretrainedProcessorDataset
          name_or_path: data/06_models/opt_quotes/tokenizer
          processor_class: AutoTokenizer
    """

    def __init__(
        self,
        *,
        name_or_path: str,
        processor_class: str = "AutoProcessor",
        revision: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._name_or_path = str(name_or_path)
        self._class = processor_class
        self._revision = revision
        self.metadata = metadata

    def load(self) -> Any:
        loader = getattr(transformers, self._class)
        try:
            return loader.from_pretrained(self._name_or_path, revision=self._revision)
        except OSError as error:
            raise ModelFolderError(
                f"No {self._class} at {self._name_or_path}: {_first_line(error)}"
            ) from error

    def preflight(self) -> None:
        """Raise :class:`~peft_pipelines.io.model_folders.ModelFolderError` if the folder does not exist."""
        if is_local_path(self._name_or_path) and not Path(self._name_or_path).is_dir():
            raise ModelFolderError(
                f"no {self._class} folder at {self._name_or_path}: "
                "point the catalog entry at one (or at a Hub id)"
            )

    def save(self, data: Any) -> None:
        replace_folder_atomically(
            Path(self._name_or_path), lambda staging: data.save_pretrained(str(staging))
        )

    def fingerprint_paths(self) -> list[Path]:
        """The processor folder; none for a Hub id."""
        return [Path(self._name_or_path)] if is_local_path(self._name_or_path) else []

    def _exists(self) -> bool:
        return Path(self._name_or_path, "tokenizer_config.json").is_file()

    def _describe(self) -> dict[str, Any]:
        return {"name_or_path": self._name_or_path, "processor_class": self._class}


class ManifestError(UserError, DatasetError):
    """A base-model manifest file that is missing or unreadable (one line naming it)."""


def read_manifest(file: Path) -> BaseModelManifest:
    """A base-model manifest file, with the base folder it names made absolute again.

    Raises :class:`ManifestError` (one line naming the file) if it is missing,
    not JSON, or not a manifest (:meth:`BaseModelManifest.from_mapping`).
    """
    try:
        manifest = BaseModelManifest.from_mapping(json.loads(file.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ManifestError(f"no base-model manifest at {file}") from None
    except (OSError, ValueError) as error:  # a ConfigurationError is a ValueError
        raise ManifestError(f"{file} is unreadable: {_first_line(error)}") from error
    return manifest.read_in(file.parent)


def write_manifest(
    file: Path, manifest: BaseModelManifest, *, read_from: Path | None = None
) -> None:
    """Write ``manifest`` to ``file`` (renamed into place), its base folder relative to where it is read.

    ``read_from``: the folder ``file`` will be read in (default: its own), for
    a file written into a staging folder first.
    """
    written = manifest.written_in(read_from or file.parent)
    write_text_atomically(file, json.dumps(written.to_mapping(), indent=1, sort_keys=True))


_DESCRIBE_AGAIN = "run the model stages again (kedro run --tags model)"


class BaseModelManifestDataset(AbstractDataset[BaseModelManifest, BaseModelManifest]):
    """The base-model manifest (a :class:`BaseModelManifest`) as a JSON file naming a base folder of the project relative to itself.

    Loads with that folder absolute, wherever the project now is (a copy
    loads its own base, never the original's); Hub ids and folders outside
    the project are kept as they are (:mod:`peft_pipelines.io.model_folders`).

    Example catalog entry::

        "{namespace}.base_model_manifest":
          type: peft_pipelines.io.BaseModelManifestDataset
          filepath: data/06_models/{namespace}/base_model_manifest.json
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> BaseModelManifest:
        try:
            return read_manifest(self._filepath)
        except ManifestError as error:
            raise ManifestError(f"{error}: {_DESCRIBE_AGAIN}") from error

    def save(self, data: BaseModelManifest) -> None:
        write_manifest(self._filepath, data)

    def preflight(self) -> None:
        """Raise a one-line error now if the manifest, or the base folder it names, is missing or broken."""
        location = self.load().name_or_path
        if is_local_path(location):
            check_model_folder(Path(location), _DESCRIBE_AGAIN)

    def fingerprint_paths(self) -> list[Path]:
        """The manifest file."""
        return [self._filepath]

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class PeftAdapterDataset(AbstractVersionedDataset[PeftModel, PeftModel]):
    """A PEFT adapter folder (``save_pretrained``) with the manifest of its base beside it.

    ``base_model_manifest`` is the catalog's manifest file of the same pipeline:
    on save it is copied into the adapter folder, so every adapter (every
    version, with ``versioned: true``) loads on the base it was trained on,
    rebuilt quantized and prepared by :func:`load_base_model`. A model whose
    PEFT config names another base than that manifest is refused. The folder
    is written to a staging folder and renamed into place when whole; its
    manifest and ``adapter_config.json`` name a base folder of the project
    relative to the adapter folder, as :class:`BaseModelManifestDataset` does.

    Example catalog entry::

        whisper_zh.adapter:
          type: peft_pipelines.io.PeftAdapterDataset
          path: data/06_models/whisper_zh/adapter
          base_model_manifest: data/06_models/whisper_zh/base_model_manifest.json
          versioned: true
    """

    def __init__(
        self,
        *,
        path: str,
        base_model_manifest: str,
        load_args: dict[str, Any] | None = None,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(PurePosixPath(Path(path).as_posix()), version)
        self._manifest_file = Path(base_model_manifest)
        self._load_args = dict(load_args or {})
        self.metadata = metadata

    def load(self) -> PeftModel:
        folder = Path(self._get_load_path())
        return load_adapter(folder, **self._load_args)

    def save(self, data: PeftModel) -> None:
        try:
            manifest = read_manifest(self._manifest_file)
        except ManifestError as error:
            raise ManifestError(f"{error}: run describe_base_model first") from error
        trained_on = getattr(
            data.peft_config.get(data.active_adapter), "base_model_name_or_path", None
        )
        if trained_on and Path(trained_on).resolve() != Path(manifest.name_or_path).resolve():
            raise DatasetError(
                f"the adapter was made on {trained_on}, but {self._manifest_file} describes "
                f"{manifest.name_or_path}: run describe_base_model again"
            )
        target = Path(self._get_save_path())

        def write(staging: Path) -> None:
            data.save_pretrained(str(staging))
            write_manifest(staging / MANIFEST_FILE, manifest, read_from=target)
            config_file = staging / "adapter_config.json"
            config = json.loads(config_file.read_text(encoding="utf-8"))
            config["base_model_name_or_path"] = manifest.written_in(target).name_or_path
            config_file.write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")

        replace_folder_atomically(target, write)

    def preflight(self) -> None:
        """Raise :class:`AdapterLoadError` now unless the adapter a load reads, and its base, are whole."""
        try:
            folder = self.resolved_path()
        except DatasetError:
            raise AdapterLoadError(
                f"no adapter saved at {self._filepath}: {_DESCRIBE_AGAIN}"
            ) from None
        check_adapter_folder(folder)

    def resolved_path(self) -> Path:
        """The folder a load reads: the latest version, if versioned."""
        return Path(self._get_load_path())

    def versions_root(self) -> Path:
        """The folder of the catalog entry: with ``versioned: true``, the one holding ``<version>/<name>`` folders."""
        return Path(self._filepath)

    def fingerprint_paths(self) -> list[Path]:
        """The adapter folder a load reads (the latest version); none before the first save."""
        try:
            return [self.resolved_path()]
        except DatasetError:  # versioned, and no version saved yet
            return []

    def _exists(self) -> bool:
        try:
            return (Path(self._get_load_path()) / MANIFEST_FILE).is_file()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._filepath), "version": self._version, "load_args": self._load_args}


class AdapterLoadError(UserError, DatasetError):
    """An adapter folder, or the base model it names, that cannot be loaded (one line: which and why)."""


def _first_line(error: BaseException) -> str:
    """The first line of an error's message, after its type unless it is one of ours (already a sentence)."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    return text if isinstance(error, UserError) else f"{type(error).__name__}: {text}".rstrip(": ")


def _adapter_manifest(folder: Path) -> BaseModelManifest:
    if not (folder / MANIFEST_FILE).is_file():
        raise AdapterLoadError(f"no adapter at {folder} (or it lacks {MANIFEST_FILE})")
    try:
        return read_manifest(folder / MANIFEST_FILE)
    except ManifestError as error:
        raise AdapterLoadError(str(error)) from error


def _base_model_error(
    manifest: BaseModelManifest, folder: Path, error: Exception
) -> AdapterLoadError:
    return AdapterLoadError(
        f"cannot load the base model {manifest.name_or_path} that the adapter at "
        f"{folder} was trained on: {_first_line(error)}"
    )


def _check_adapter_weights(folder: Path) -> None:
    weights = folder / "adapter_model.safetensors"
    if not weights.is_file() and (folder / "adapter_model.bin").is_file():
        return  # saved without safetensors: PEFT's loader is the check
    try:
        check_safetensors(weights, "train the adapter again")
    except ModelFolderError as error:
        raise AdapterLoadError(f"cannot load the adapter at {folder}: {error}") from error


def check_adapter_folder(folder: Path) -> None:
    """Raise :class:`AdapterLoadError` unless ``folder``'s manifest, weights and base folder are whole.

    Cheap (headers and sizes, no weights read): what a run checks before its first node.
    """
    manifest = _adapter_manifest(folder)
    _check_adapter_weights(folder)
    location = manifest.name_or_path
    if is_local_path(location):
        try:
            check_model_folder(Path(location), "restore it, or run the model stages again")
        except ModelFolderError as error:
            raise _base_model_error(manifest, folder, error) from error


def load_adapter(folder: Path, *, window_seconds: Any = "manifest", **load_args: Any) -> PeftModel:
    """The adapter in ``folder`` on the base its manifest describes.

    ``window_seconds`` overrides the manifest's Whisper input window (``None``:
    the model's full window, as transcription of a file uses). Raises
    :class:`AdapterLoadError` naming the folder if the adapter or its base
    cannot be loaded (a truncated weights file, a deleted or broken base folder).
    The loaded model's PEFT config names the base folder it was loaded on.
    """
    manifest = _adapter_manifest(folder)
    _check_adapter_weights(folder)  # before the base loads, which takes far longer
    if window_seconds != "manifest":
        manifest = dataclasses.replace(manifest, window_seconds=window_seconds)
    # Loaders raise anything from OSError to safetensors' own errors: name what failed, once.
    try:
        base = load_base_model(manifest)
    except Exception as error:
        raise _base_model_error(manifest, folder, error) from error
    try:
        model = PeftModel.from_pretrained(base, str(folder), **load_args)
    except Exception as error:
        raise AdapterLoadError(
            f"cannot load the adapter at {folder}: {_first_line(error)}"
        ) from error
    # adapter_config.json names the base relative to its folder: in memory, the folder loaded.
    model.peft_config[model.active_adapter].base_model_name_or_path = manifest.name_or_path
    return model
