"""Reading speech corpora into one shape: a ``DatasetDict`` of rows with encoded audio bytes.

Two sources feed the same downstream stages:

* a Common Voice release folder (``cv-corpus-*/<locale>/``: ``train.tsv``,
  ``dev.tsv``, ``test.tsv`` and ``clips/*.mp3``), the way Common Voice ships now
  that it has left the Hugging Face Hub;
* anything ``datasets.load_dataset`` reads (a Hub dataset id, or a builder such
  as ``parquet`` with local ``data_files``) that has an audio and a text column.

Audio stays as the encoded file bytes: decoded 48 kHz float32 would be about
ten times the mp3, and the full zh-CN release has about 40,000 clips.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from datasets import Audio, Dataset, DatasetDict, Features, Value, load_dataset
from kedro.io import AbstractDataset, DatasetError

from peft_pipelines.data_quality import (
    DETAIL_COLUMN,
    ERROR_COLUMN,
    EmptySplitError,
    empty_split_message,
)
from peft_pipelines.errors import UserError
from peft_pipelines.io.atomic_arrow_dataset import scratch_arrow_file

COMMON_VOICE_COLUMNS = (
    "client_id",
    "path",
    "sentence",
    "up_votes",
    "down_votes",
    "age",
    "gender",
    "accent",
    "locale",
    "segment",
)
CLIP_READ_BATCH = 64


class CorpusNotFoundError(UserError, FileNotFoundError):
    """The configured corpus folder (or one of its split files) does not exist."""


def _read_clip_bytes(batch: dict[str, list], clips_dir: str) -> dict[str, list]:
    # Rows already marked as failures (missing clip, path outside clips/) are never read.
    return {
        "audio": [
            b"" if reason else (Path(clips_dir) / name).read_bytes()
            for name, reason in zip(batch["path"], batch[ERROR_COLUMN], strict=True)
        ]
    }


def clip_problem(clips_dir: Path, name: str) -> tuple[str, str]:
    """Why the clip a TSV names cannot be read (reason, detail), or ("", "") if it can.

    A name that resolves outside ``clips_dir`` (``../../etc/passwd``, an
    absolute path, a symlink pointing out) is refused before anything is read.
    """
    root = clips_dir.resolve()
    target = (clips_dir / name).resolve()
    if not target.is_relative_to(root):
        return "path_outside_corpus", f"{name!r} resolves outside {clips_dir}"
    if not target.is_file():
        return "missing_clip", f"no file {clips_dir / name}"
    return "", ""


class CorpusFormatError(UserError, ValueError):
    """A split file that cannot be read as a Common Voice TSV at all."""


def decoded_lines(tsv: Path) -> list[tuple[int, str, str | None]]:
    """(line number, text, why it is not UTF-8 or None) of every non-empty line of ``tsv``.

    Each line is decoded on its own, so one stray Latin-1 byte costs one row,
    not the file; an undecodable line's text has U+FFFD for its bad bytes. A
    byte-order mark (as spreadsheet programs write) is dropped.
    """
    data = tsv.read_bytes()
    if b"\0" in data:
        raise CorpusFormatError(f"{tsv} is not a text file (it holds NUL bytes)")
    data = data.removeprefix(b"\xef\xbb\xbf")
    lines = []
    for line_no, line in enumerate(data.split(b"\n"), start=1):
        raw = line.removesuffix(b"\r")
        if not raw:
            continue
        try:
            lines.append((line_no, raw.decode("utf-8"), None))
        except UnicodeDecodeError as error:
            problem = f"byte 0x{raw[error.start]:02x} at position {error.start} is not UTF-8"
            lines.append((line_no, raw.decode("utf-8", errors="replace"), problem))
    return lines


def read_common_voice_tsv(
    tsv: Path,
) -> tuple[list[str], list[dict[str, str]], list[dict[str, Any]]]:
    """Rows of one Common Voice TSV, and the malformed or undecodable lines it holds (as drop records)."""
    lines = decoded_lines(tsv)
    header = lines[0][1].split("\t") if lines and lines[0][2] is None else None
    if header is None or "path" not in header or "sentence" not in header:
        shown = "none" if not lines else header if header else "not UTF-8 text"
        raise CorpusFormatError(
            f"{tsv} is not a Common Voice TSV: its header ({shown}) lacks 'path' or 'sentence'"
        )
    path_at = header.index("path")
    rows, malformed = [], []
    for line_no, text, problem in lines[1:]:
        fields = text.split("\t")
        if problem:
            reason = "undecodable_tsv_row"
            detail = f"{tsv.name} line {line_no}: {problem}"
        elif len(fields) == len(header):
            rows.append(dict(zip(header, fields, strict=True)))
            continue
        else:
            reason = "malformed_tsv_row"
            detail = f"{tsv.name} line {line_no} has {len(fields)} fields, header has {len(header)}"
        path = fields[path_at] if len(fields) > path_at else f"<line {line_no}>"
        malformed.append({"path": path, "reason": reason, "detail": detail})
    return header, rows, malformed


def write_common_voice_tsv(
    path: Path,
    rows: list[dict[str, str]],
    *,
    header: list[str] | tuple[str, ...] = COMMON_VOICE_COLUMNS,
    extra_lines: tuple[str, ...] = (),
) -> None:
    """Write ``rows`` as a Common Voice TSV (``header`` first); ``extra_lines`` are appended verbatim."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(
            handle,
            fieldnames=list(header),
            delimiter="\t",
            quoting=csv.QUOTE_NONE,
            lineterminator="\n",
        )
        writer.writeheader()
        writer.writerows(rows)
        for line in extra_lines:
            handle.write(line + "\n")


def _seeded_sample(rows: list[dict[str, str]], size: int, seed: int) -> list[dict[str, str]]:
    # datasets' own seeded shuffle picks the lines (in memory: nothing is written), kept in TSV order.
    lines = Dataset.from_dict({"line": list(range(len(rows)))})
    drawn = lines.shuffle(seed=seed, keep_in_memory=True).select(range(min(size, len(rows))))
    return [rows[i] for i in sorted(drawn["line"])]


def marked_split_rows(
    root: Path, split: str, subset: dict[str, Any] | None = None
) -> tuple[list[str], list[dict[str, str]], list[tuple[str, str]]]:
    """One split's TSV header, rows, and per row its drop mark (reason, detail; "" if readable).

    Reads the TSV and checks that each clip exists; reads no clip.
    """
    if not root.is_dir():
        raise CorpusNotFoundError(missing_corpus_message(root))
    tsv = root / f"{split}.tsv"
    if not tsv.is_file():
        raise CorpusNotFoundError(
            f"Split file not found: {tsv}. Check the corpus folder and its splits."
        )
    header, rows, malformed = read_common_voice_tsv(tsv)
    if subset and split in subset.get("rows", {}):
        rows = _seeded_sample(rows, int(subset["rows"][split]), int(subset["seed"]))
        malformed = []
    marks = [clip_problem(root / "clips", row["path"]) for row in rows]
    for bad in malformed:
        rows.append({name: bad["path"] if name == "path" else "" for name in header})
        marks.append((bad["reason"], bad["detail"]))
    return header, rows, marks


def read_common_voice_release(
    corpus_dir: str | Path, splits: list[str], subset: dict[str, Any] | None = None
) -> DatasetDict:
    """Every row of the given splits of a Common Voice release folder, clips as bytes.

    ``subset`` (``{"seed": 16, "rows": {"train": 640}}``) keeps a seeded random
    sample of a split's rows, as the seed notebook's demo did. Columns: every
    TSV column as a string, ``audio`` (the clip file's bytes) and the drop
    marks ``_drop_reason`` / ``_drop_detail``: a row whose TSV line is
    malformed, whose clip is missing or whose clip path leads outside
    ``clips/`` is kept, marked and never read, for the ingest stage to drop and
    report (:func:`peft_pipelines.data_quality.split_off_failures`). Clips are
    read and written to Arrow a batch at a time, so memory stays flat.
    """
    root = Path(corpus_dir)
    clips_dir = root / "clips"
    corpus = {}
    for split in splits:
        header, rows, marks = marked_split_rows(root, split, subset)
        columns = Features({name: Value("string") for name in header})
        table = Dataset.from_dict(
            {
                **{name: [row[name] for row in rows] for name in header},
                ERROR_COLUMN: [reason for reason, _ in marks],
                DETAIL_COLUMN: [detail for _, detail in marks],
            },
            features=Features(
                {**columns, ERROR_COLUMN: Value("string"), DETAIL_COLUMN: Value("string")}
            ),
        )
        corpus[split] = table.map(
            _read_clip_bytes,
            batched=True,
            batch_size=CLIP_READ_BATCH,
            writer_batch_size=CLIP_READ_BATCH,  # write each batch of clip bytes, not 1000 rows at once
            fn_kwargs={"clips_dir": str(clips_dir)},
            features=Features({**table.features, "audio": Value("binary")}),
            cache_file_name=scratch_arrow_file(f"ingest-{split}"),
            load_from_cache_file=False,
            desc=f"ingest {split}: read clips",
        )
    return DatasetDict(corpus)


def missing_corpus_message(root: Path) -> str:
    return (
        f"Corpus folder not found: {root}. Point the pipeline at a Common Voice release folder "
        "with `kedro run --params corpus_dir=<path>` (or set the path of its corpus_source "
        "entry in the catalog)."
    )


def _audio_bytes_from_hf_rows(batch: dict[str, list], audio_column: str) -> dict[str, list]:
    audio, paths, reasons, details = [], [], [], []
    for index, value in enumerate(batch[audio_column]):
        if isinstance(value, dict):
            data, path = value.get("bytes"), value.get("path")
        else:
            data, path = None, value
        if data is None and path and Path(path).is_file():
            data = Path(path).read_bytes()
        audio.append(data)
        paths.append(Path(path).name if path else f"row-{batch['_row'][index]}")
        reasons.append("" if data is not None else "missing_clip")
        details.append("" if data is not None else f"no audio bytes and no readable file {path!r}")
    return {"audio_bytes": audio, "path": paths, ERROR_COLUMN: reasons, DETAIL_COLUMN: details}


def read_hf_audio_dataset(
    path: str,
    splits: dict[str, str],
    *,
    audio_column: str = "audio",
    text_column: str = "sentence",
    name: str | None = None,
    data_files: dict[str, Any] | None = None,
    revision: str | None = None,
) -> DatasetDict:
    """Read a ``datasets``-loadable speech corpus into the Common Voice-like shape.

    ``path`` is a Hub dataset id or a builder name (``parquet``, ``audiofolder``)
    with local ``data_files``; ``splits`` maps our split names to the source's
    (``{"dev": "validation"}``). Audio is kept encoded: the audio column is cast
    with ``decode=False``, so no decoder backend (torchcodec, FFmpeg) is needed.
    Output columns: the source's other columns, ``sentence``, ``path``, ``audio`` and the
    drop marks (a row without audio is marked ``missing_clip``).
    """
    corpus = {}
    for split, source_split in splits.items():
        table = load_dataset(
            path, name, data_files=data_files, split=source_split, revision=revision
        )
        if audio_column not in table.column_names or text_column not in table.column_names:
            raise CorpusFormatError(
                f"{path} split {source_split} has columns {table.column_names}; "
                f"expected audio column {audio_column!r} and text column {text_column!r}"
            )
        if isinstance(table.features[audio_column], Audio):
            table = table.cast_column(audio_column, Audio(decode=False))
        if text_column != "sentence":
            table = table.rename_column(text_column, "sentence")
        table = table.add_column("_row", list(range(len(table))))
        keep = [c for c in table.column_names if c not in (audio_column, "path", "_row")]
        with_bytes = table.map(
            _audio_bytes_from_hf_rows,
            batched=True,
            batch_size=CLIP_READ_BATCH,
            writer_batch_size=CLIP_READ_BATCH,
            fn_kwargs={"audio_column": audio_column},
            remove_columns=[c for c in table.column_names if c not in keep],
            cache_file_name=scratch_arrow_file(f"ingest-{split}"),
            load_from_cache_file=False,
            desc=f"ingest {split}: read audio",
        )
        corpus[split] = with_bytes.cast_column("audio_bytes", Value("binary")).rename_column(
            "audio_bytes", "audio"
        )
    return DatasetDict(corpus)


class CommonVoiceReleaseDataset(AbstractDataset[None, DatasetDict]):
    """A Common Voice release folder (``{train,dev,test}.tsv`` + ``clips/``), read as a ``DatasetDict``.

    Loads every row of ``splits`` with its clip's bytes, bad rows marked for
    the ingest stage to drop and report (:func:`read_common_voice_release`);
    ``subset`` keeps a seeded sample per split. kedro-datasets has no reader of
    this layout, and the clips must stream into Arrow batch by batch.

    Example catalog entry::

        whisper_zh.corpus_source:
          type: peft_pipelines.io.CommonVoiceReleaseDataset
          path: /data/cv-corpus-21.0-2025-03-14/zh-CN
          subset: {seed: 16, rows: {train: 640, dev: 320}}
    """

    def __init__(
        self,
        *,
        path: str,
        splits: list[str] | tuple[str, ...] = ("train", "dev", "test"),
        subset: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._path = Path(path)
        self._splits = list(splits)
        self._subset = dict(subset) if subset else None
        self.metadata = metadata

    def load(self) -> DatasetDict:
        return read_common_voice_release(self._path, self._splits, self._subset)

    def preflight(self) -> None:
        """Before a run: raise if the folder or a split file is missing, unreadable, or has no usable row.

        Reads the TSVs and checks that clips exist (no clip is read), so a run
        stops before any node saves anything.
        """
        for split in self._splits:
            _, _, marks = marked_split_rows(self._path, split, self._subset)
            if not any(not reason for reason, _ in marks):
                dropped = [{"reason": reason, "detail": detail} for reason, detail in marks]
                where = f"{self._path / f'{split}.tsv'}"
                raise EmptySplitError(empty_split_message(split, where, dropped))

    def save(self, data: DatasetDict) -> None:  # noqa: ARG002 (AbstractDataset's signature; an input)
        raise DatasetError(f"{self._path} is the corpus: the pipelines never write it")

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "splits": self._splits, "subset": self._subset}


class HFAudioCorpusDataset(AbstractDataset[None, DatasetDict]):
    """A speech corpus ``datasets.load_dataset`` reads (a Hub id, or ``parquet`` with local files).

    Loads the Common Voice-like shape of :func:`read_hf_audio_dataset`: audio
    kept encoded (no decoder backend needed), ``splits`` mapping our split
    names to the source's.

    Example catalog entry::

        whisper_zh.corpus_source:
          type: peft_pipelines.io.HFAudioCorpusDataset
          dataset_name: someone/mandarin_speech
          splits: {train: train, dev: validation, test: test}
          load_args: {text_column: transcription}
    """

    def __init__(
        self,
        *,
        dataset_name: str,
        splits: dict[str, str],
        load_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        # load_args: audio_column, text_column, name, data_files, revision (read_hf_audio_dataset's)
        self._args = {"path": dataset_name, "splits": dict(splits), **dict(load_args or {})}
        self.metadata = metadata

    def load(self) -> DatasetDict:
        return read_hf_audio_dataset(**self._args)

    def save(self, data: DatasetDict) -> None:  # noqa: ARG002 (AbstractDataset's signature; an input)
        raise DatasetError(f"{self._args['path']} is the corpus: the pipelines never write it")

    def _describe(self) -> dict[str, Any]:
        return dict(self._args)
