"""Catalog datasets for exports: the adapter merged into its base, and CTranslate2 copies of models.

A merged model is a plain transformers folder (weights, config, generation
config, tokenizer or processor) with the manifest of its base beside it; it
loads as a :class:`BaseModelManifest` naming the folder, unquantized, so
:func:`~peft_pipelines.io.model_loading.load_base_model` loads it like any base.

A CTranslate2 folder is written by the dataset from what a node asks for: a
:class:`CTranslate2Conversion` (CTranslate2's own ``TransformersConverter`` on a
transformers folder) or a :class:`CTranslate2Assembly` (a CTranslate2 model that
packages already ship, its ``model.bin`` in parts). Both are written into a
staging folder renamed into place when whole and checked, with an
``export_record.json`` listing every file and its size, so a cut ``model.bin``
or a missing tokenizer is named on load instead of failing inside CTranslate2.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, DatasetError, Version

from peft_pipelines.errors import UserError, first_line
from peft_pipelines.io.atomic_files import replace_folder_atomically
from peft_pipelines.io.base_model_manifest import BaseModelManifest
from peft_pipelines.io.model_datasets import (
    MANIFEST_FILE,
    ManifestError,
    read_manifest,
    write_manifest,
)
from peft_pipelines.io.model_folders import ModelFolderError, check_model_folder

EXPORT_RECORD = "export_record.json"
EXPORT_VERDICT = "export_verdict.json"
# Files a converter and a user of an exported model need beside the weights: the tokenizer
# (both), the feature extractor (Whisper; faster-whisper reads preprocessor_config.json).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "normalizer.json",
    "preprocessor_config.json",
)


class ExportError(UserError, DatasetError):
    """An export that cannot be made or loaded: one line naming the folder and what is wrong."""


@dataclass(frozen=True)
class MergedModel:
    """What ``merge_adapter`` makes: the merged transformers model, its processor, and its base's manifest.

    ``processor`` is a tokenizer, or a processor holding a tokenizer and a
    feature extractor (Whisper); ``base_manifest`` describes the base the
    adapter was merged into (unquantized).
    """

    model: Any
    processor: Any
    base_manifest: BaseModelManifest


@dataclass(frozen=True)
class CTranslate2Conversion:
    """Convert the transformers folder ``source`` with CTranslate2's converter, weights in ``quantization``."""

    source: Path
    quantization: str


@dataclass(frozen=True)
class CTranslate2Assembly:
    """A CTranslate2 model shipped as files: ``model.bin`` in consecutive ``model_parts``, other ``files`` copied.

    ``files`` maps a name in the export folder to the file copied there,
    ``texts`` a name to the text written there (a file the packages lack).
    """

    model_parts: tuple[Path, ...]
    files: dict[str, Path] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    quantization: str = "as shipped"


@dataclass(frozen=True)
class CTranslate2Folder:
    """An exported CTranslate2 model folder, checked whole when loaded; shown as its folder."""

    path: Path
    quantization: str

    def __str__(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class ExportVerdict:
    """The parity check's verdict on one export, saved (``{namespace}.export_verdict``) under its version.

    ``enforced`` is false for a base with random weights, whose outputs are
    noise: its failed check is reported, not held against the export.
    """

    passed: bool
    enforced: bool = True
    failures: tuple[str, ...] = ()

    @property
    def servable(self) -> bool:
        """Whether a command may pick the export without being asked to."""
        return self.passed or not self.enforced

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "enforced": self.enforced, "failures": list(self.failures)}

    @classmethod
    def from_dict(cls, verdict: dict[str, Any]) -> ExportVerdict:
        return cls(
            passed=bool(verdict["passed"]),
            enforced=bool(verdict.get("enforced", True)),
            failures=tuple(str(failure) for failure in verdict.get("failures", ())),
        )


class _ExportFolderDataset(AbstractVersionedDataset[Any, Any]):
    """A folder written whole or not at all; versioned like the adapter with ``versioned: true``."""

    def __init__(
        self,
        *,
        path: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(PurePosixPath(Path(path).as_posix()), version)
        self.metadata = metadata

    def resolved_path(self) -> Path:
        """The folder a load reads: the latest version, if versioned."""
        return Path(self._get_load_path())

    def save_path(self) -> Path:
        """The folder a save writes: this run's version, if versioned."""
        return Path(self._get_save_path())

    def versions_root(self) -> Path:
        """The folder of the catalog entry (with ``versioned: true``, the one holding the versions)."""
        return Path(self._filepath)

    def fingerprint_paths(self) -> list[Path]:
        """The folder a load reads; none before the first save."""
        try:
            return [self.resolved_path()]
        except DatasetError:
            return []

    def _exists(self) -> bool:
        try:
            return self._complete(self.resolved_path())
        except DatasetError:
            return False

    def _complete(self, folder: Path) -> bool:
        raise NotImplementedError

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._filepath), "version": self._version}


class MergedModelDataset(_ExportFolderDataset):
    """The adapter merged into its base: a transformers folder with its base's manifest beside it.

    Saves a :class:`MergedModel`; loads as the :class:`BaseModelManifest` of the
    merged folder (quantization ``none``, the model's own window, no config
    overrides), which ``load_base_model`` turns into the model.

    Example catalog entry::

        "{namespace}.merged_model":
          type: peft_pipelines.io.MergedModelDataset
          path: data/06_models/{namespace}/merged
          versioned: true
    """

    def load(self) -> BaseModelManifest:
        folder = self.resolved_path()
        if not (folder / MANIFEST_FILE).is_file():
            raise ExportError(f"no merged model at {folder} (or it lacks {MANIFEST_FILE})")
        try:
            base = read_manifest(folder / MANIFEST_FILE)
            check_model_folder(folder, "merge the adapter again (kedro run --tags export)")
        except (ManifestError, ModelFolderError) as error:
            raise ExportError(f"merged model at {folder}: {error}") from error
        return dataclasses.replace(
            base,
            name_or_path=str(folder),
            revision=None,
            quantization="none",
            gradient_checkpointing=False,
            config_overrides={},
            window_seconds=None,
        )

    def save(self, data: MergedModel) -> None:
        target = self.save_path()

        def write(staging: Path) -> None:
            data.model.save_pretrained(str(staging))
            data.processor.save_pretrained(str(staging))
            extractor = getattr(data.processor, "feature_extractor", None)
            if extractor is not None:  # transformers 5 folds it into processor_config.json
                extractor.save_pretrained(str(staging))
            write_manifest(staging / MANIFEST_FILE, data.base_manifest, read_from=target)

        replace_folder_atomically(target, write)

    def _complete(self, folder: Path) -> bool:
        return (folder / MANIFEST_FILE).is_file() and (folder / "config.json").is_file()


class CTranslate2ModelDataset(_ExportFolderDataset):
    """A CTranslate2 model folder, made from a :class:`CTranslate2Conversion` or :class:`CTranslate2Assembly`.

    Loads as a :class:`CTranslate2Folder` once :func:`check_ctranslate2_folder`
    finds it whole; a failed conversion or a folder that fails that check
    never replaces the previous one.

    Example catalog entry::

        "{namespace}.ctranslate2_model":
          type: peft_pipelines.io.CTranslate2ModelDataset
          path: data/06_models/{namespace}/ctranslate2
          versioned: true
    """

    def load(self) -> CTranslate2Folder:
        folder = self.resolved_path()
        record = check_ctranslate2_folder(folder)
        return CTranslate2Folder(path=folder, quantization=record["quantization"])

    def save(self, data: CTranslate2Conversion | CTranslate2Assembly) -> None:
        def write(staging: Path) -> None:
            if isinstance(data, CTranslate2Conversion):
                convert_to_ctranslate2(data, staging)
            else:
                assemble_ctranslate2(data, staging)
            write_export_record(staging, data.quantization)
            check_ctranslate2_folder(staging)

        replace_folder_atomically(self.save_path(), write)

    def _complete(self, folder: Path) -> bool:
        return (folder / EXPORT_RECORD).is_file()


def convert_to_ctranslate2(conversion: CTranslate2Conversion, out: Path) -> None:
    """CTranslate2's ``TransformersConverter`` on ``conversion.source``, its tokenizer files copied along.

    Raises :class:`ExportError` naming the source folder if it is not a whole
    model or the converter refuses it.
    """
    source = conversion.source
    try:
        check_model_folder(source, "restore it, or run the model stages again")
    except ModelFolderError as error:
        raise ExportError(f"cannot export {source}: {error}") from error
    from ctranslate2.converters import TransformersConverter  # noqa: PLC0415 (export only)

    copy_files = [name for name in TOKENIZER_FILES if (source / name).is_file()]
    if "tokenizer.json" not in copy_files:
        raise ExportError(
            f"cannot export {source}: it has no tokenizer.json to ship with the export"
        )
    try:
        TransformersConverter(str(source), copy_files=copy_files).convert(
            str(out), quantization=conversion.quantization, force=True
        )
    except Exception as error:  # the converter raises anything from ValueError to OSError
        raise ExportError(
            f"CTranslate2 cannot convert {source} ({conversion.quantization}): "
            f"{type(error).__name__}: {first_line(error)}"
        ) from error


def assemble_ctranslate2(assembly: CTranslate2Assembly, out: Path) -> None:
    """Concatenate the ``model.bin`` parts and copy the other files into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for source in (*assembly.model_parts, *assembly.files.values()):
        if not source.is_file():
            raise ExportError(f"cannot assemble the CTranslate2 model: {source} is missing")
    with (out / "model.bin").open("wb") as model_file:
        for part in assembly.model_parts:
            with part.open("rb") as handle:
                shutil.copyfileobj(handle, model_file, 1 << 24)
    for name, source in assembly.files.items():
        shutil.copyfile(source, out / name)
    for name, text in assembly.texts.items():
        (out / name).write_text(text, encoding="utf-8")


def write_export_record(folder: Path, quantization: str) -> None:
    """``export_record.json``: every file of the folder with its size, and the weights' quantization."""
    files = {
        path.name: path.stat().st_size
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name != EXPORT_RECORD
    }
    record = {"quantization": quantization, "files": files}
    (folder / EXPORT_RECORD).write_text(json.dumps(record, indent=1), encoding="utf-8")


def _read_json(file: Path, folder: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"the CTranslate2 export at {folder} has no {file.name}") from None
    except (OSError, ValueError) as error:
        raise ExportError(f"{file} is unreadable: {first_line(error)}") from error


def check_ctranslate2_folder(folder: Path) -> dict[str, Any]:
    """Raise :class:`ExportError` unless ``folder`` is a whole export; returns its record.

    Whole: every file its ``export_record.json`` lists is there with its size
    (a cut ``model.bin`` is named, not left to CTranslate2), and the
    vocabulary agrees with the tokenizer shipped beside it.
    """
    if not folder.is_dir():
        raise ExportError(
            f"no CTranslate2 export at {folder}: run the export stages (--tags export)"
        )
    record = _read_json(folder / EXPORT_RECORD, folder)
    for name, size in record.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise ExportError(f"the CTranslate2 export at {folder} lacks {name}: export it again")
        if path.stat().st_size != size:
            raise ExportError(
                f"{path} is {path.stat().st_size} bytes, the export wrote {size}: "
                "truncated or changed, export it again"
            )
    if "model.bin" not in record.get("files", {}):
        raise ExportError(f"the CTranslate2 export at {folder} has no model.bin")
    check_vocabulary(folder)
    return record


def _vocabulary(folder: Path) -> list[str]:
    if (folder / "vocabulary.txt").is_file():
        return (folder / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    return list(_read_json(folder / "vocabulary.json", folder))


def check_vocabulary(folder: Path) -> None:
    """Raise :class:`ExportError` unless every token of ``tokenizer.json`` has its id in the model's vocabulary.

    The vocabulary may be longer (CTranslate2 pads OPT's to a multiple of 8),
    never shorter or in another order: ids would decode to other tokens.
    """
    from tokenizers import Tokenizer  # noqa: PLC0415

    vocabulary = _vocabulary(folder)
    try:
        tokens = Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab(
            with_added_tokens=True
        )
    except Exception as error:  # tokenizers raises its own Exception subclass
        raise ExportError(
            f"{folder / 'tokenizer.json'} is not a tokenizer: {first_line(error)}"
        ) from error
    if len(vocabulary) < len(tokens):
        raise ExportError(
            f"the CTranslate2 export at {folder} has a vocabulary of {len(vocabulary)} tokens, "
            f"its tokenizer {len(tokens)}: not the same vocabulary"
        )
    wrong = sorted(
        i for token, i in tokens.items() if i >= len(vocabulary) or vocabulary[i] != token
    )
    if wrong:
        raise ExportError(
            f"the CTranslate2 export at {folder}: {len(wrong)} token ids of tokenizer.json name "
            f"other tokens in its vocabulary (first: id {wrong[0]}): not the same vocabulary"
        )


def open_ctranslate2(export: CTranslate2Folder, model_class: str, **options: Any) -> Any:
    """``ctranslate2.<model_class>`` (``Generator``, ``models.Whisper``) on the export, on the CPU by default.

    CTranslate2 raises a ``RuntimeError`` on a file it cannot read (a cut
    ``model.bin``): said as one line naming the folder.
    """
    import ctranslate2  # noqa: PLC0415

    check_ctranslate2_folder(export.path)
    loader: Any = ctranslate2
    for name in model_class.split("."):
        loader = getattr(loader, name)
    options.setdefault("device", "cpu")
    try:
        return loader(str(export.path), **options)
    except (RuntimeError, ValueError) as error:
        raise ExportError(
            f"CTranslate2 cannot load the export at {export.path}: {first_line(error)}"
        ) from error


def _version_folders(root: Path) -> list[str]:
    """The version strings under a versioned dataset's folder, oldest first (they sort by time)."""
    if not root.is_dir():
        return []
    return sorted(child.name for child in root.iterdir() if child.is_dir())


def _made_from(version: str, sources: list[str], derived: list[str]) -> str | None:
    """The newest of ``derived`` made while ``version`` was the newest of ``sources``; None if none.

    A stage loads the newest version of its input: a run at time ``t`` worked
    on the newest source version not after ``t``. So the derived versions that
    belong to source ``version`` are those from it up to the next source version.
    """
    later = [other for other in sources if other > version]
    until = later[0] if later else None
    own = [v for v in derived if v >= version and (until is None or v < until)]
    return own[-1] if own else None


def ctranslate2_export_of(adapter: Path) -> Path | None:
    """The CTranslate2 export the export stages made of a versioned adapter, or None outside that layout.

    ``<dir>/adapter/<version>/adapter`` -> ``<dir>/ctranslate2/<version'>/ctranslate2``:
    the same version when the adapter was trained and exported in one run,
    else the newest export made while it was the newest adapter
    (``kedro run --tags export`` later). None of those: the same-version folder
    (which does not exist), for messages to name.
    """
    version = adapter.parent
    if adapter.name != "adapter" or version.parent.name != "adapter":
        return None
    exports = version.parent.parent / "ctranslate2"
    made = _made_from(version.name, _version_folders(version.parent), _version_folders(exports))
    return exports / (made or version.name) / "ctranslate2"


def export_verdict_of(adapter: Path) -> ExportVerdict | None:
    """The parity verdict on the CTranslate2 export of a versioned adapter; None if none was saved.

    ``<dir>/export_verdict.json/<version>/export_verdict.json`` (the catalog's
    ``{namespace}.export_verdict``), the newest made while that export was the
    newest. An unreadable verdict is no verdict: :class:`ExportError`.
    """
    export = ctranslate2_export_of(adapter)
    if export is None or not export.is_dir():
        return None
    export_version = export.parent
    verdicts = export_version.parent.parent / EXPORT_VERDICT
    made = _made_from(
        export_version.name,
        _version_folders(export_version.parent),
        _version_folders(verdicts),
    )
    if made is None:
        return None
    file = verdicts / made / EXPORT_VERDICT
    try:
        return ExportVerdict.from_dict(json.loads(file.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ExportError(f"{file} is not a parity verdict: {first_line(error)}") from error


def unverified_export_problem(adapter: Path) -> str | None:
    """Why the CTranslate2 export of ``adapter`` is not served unasked; None when its verdict lets it be.

    No verdict (the parity check never ran on it), a failed one, or an unreadable one.
    """
    try:
        verdict = export_verdict_of(adapter)
    except ExportError as error:
        return first_line(error)
    if verdict is None:
        return "has no parity verdict: kedro run --tags export checks it"
    if not verdict.servable:
        return f"failed its parity check: {'; '.join(verdict.failures)}"
    return None
