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
import random
import uuid
from pathlib import Path
from typing import Any

from datasets import Audio, Dataset, DatasetDict, Features, Value, load_dataset
from datasets.fingerprint import get_temporary_cache_files_directory

from peft_pipelines.data_quality import (
    DETAIL_COLUMN,
    ERROR_COLUMN,
    record_split,
    split_off_failures,
    stage_report,
)

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


class CorpusNotFoundError(FileNotFoundError):
    """The configured corpus folder (or one of its split files) does not exist."""


def scratch_arrow_file(tag: str) -> str:
    """A fresh Arrow file path in the ``datasets`` session scratch folder.

    ``map`` writes its output there batch by batch instead of building it in
    memory; the catalog then saves the result where it belongs, and the scratch
    folder is deleted when the process exits.
    """
    return str(Path(get_temporary_cache_files_directory()) / f"{tag}-{uuid.uuid4().hex}.arrow")


def _read_clip_bytes(batch: dict[str, list], clips_dir: str) -> dict[str, list]:
    return {"audio": [(Path(clips_dir) / name).read_bytes() for name in batch["path"]]}


def read_common_voice_tsv(
    tsv: Path,
) -> tuple[list[str], list[dict[str, str]], list[dict[str, Any]]]:
    """Rows of one Common Voice TSV, and the malformed lines it holds (as drop records)."""
    with tsv.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or "path" not in header or "sentence" not in header:
            raise ValueError(
                f"{tsv} is not a Common Voice TSV: its header {header} lacks 'path' or 'sentence'"
            )
        rows, malformed = [], []
        for line_no, fields in enumerate(reader, start=2):
            if len(fields) != len(header):
                path = (
                    fields[header.index("path")]
                    if len(fields) > header.index("path")
                    else f"<line {line_no}>"
                )
                malformed.append(
                    {
                        "path": path,
                        "reason": "malformed_tsv_row",
                        "detail": f"line {line_no} has {len(fields)} fields, header has {len(header)}",
                    }
                )
                continue
            rows.append(dict(zip(header, fields, strict=True)))
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
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    return [rows[i] for i in sorted(order[:size])]


def read_common_voice_release(
    corpus_dir: str, splits: list[str], subset: dict[str, Any] | None = None
) -> tuple[DatasetDict, dict[str, Any]]:
    """Read the given splits of a Common Voice release folder, clips as bytes.

    ``subset`` (``{"seed": 16, "rows": {"train": 640}}``) keeps a seeded random
    sample of a split's rows, as the seed notebook's demo did; the report
    records how many rows the split had (``rows_available``). Returns the corpus (every TSV column as a string, plus ``audio``: the clip
    file's bytes) and the ingest stage report; rows whose clip file is missing
    or whose TSV line is malformed are dropped and reported.
    """
    root = Path(corpus_dir)
    if not root.is_dir():
        raise CorpusNotFoundError(
            f"Corpus folder not found: {root}. Point the pipeline at a Common Voice release folder "
            "with `kedro run --params corpus_dir=<path>` (default set in conf/base/parameters_whisper_zh.yml)."
        )
    report = stage_report("ingest")
    clips_dir = root / "clips"
    corpus = {}
    for split in splits:
        tsv = root / f"{split}.tsv"
        if not tsv.is_file():
            raise CorpusNotFoundError(
                f"Split file not found: {tsv}. Check `corpus_dir` and `whisper_zh.corpus.splits`."
            )
        header, rows, malformed = read_common_voice_tsv(tsv)
        report.setdefault("rows_available", {})[split] = len(rows) + len(malformed)
        if subset and split in subset.get("rows", {}):
            rows = _seeded_sample(rows, int(subset["rows"][split]), int(subset["seed"]))
            malformed = []
        dropped, present = list(malformed), []
        for row in rows:
            if (clips_dir / row["path"]).is_file():
                present.append(row)
            else:
                dropped.append(
                    {
                        "path": row["path"],
                        "reason": "missing_clip",
                        "detail": f"no file {clips_dir / row['path']}",
                    }
                )
        columns = Features({name: Value("string") for name in header})
        table = Dataset.from_dict(
            {name: [row[name] for row in present] for name in header}, features=columns
        )
        corpus[split] = table.map(
            _read_clip_bytes,
            batched=True,
            batch_size=CLIP_READ_BATCH,
            writer_batch_size=CLIP_READ_BATCH,  # write each batch of clip bytes, not 1000 rows at once
            fn_kwargs={"clips_dir": str(clips_dir)},
            features=Features({**columns, "audio": Value("binary")}),
            cache_file_name=scratch_arrow_file(f"ingest-{split}"),
            load_from_cache_file=False,
            desc=f"ingest {split}: read clips",
        )
        record_split(
            report, split, rows_in=len(rows) + len(malformed), kept=len(present), dropped=dropped
        )
    return DatasetDict(corpus), report


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
) -> tuple[DatasetDict, dict[str, Any]]:
    """Read a ``datasets``-loadable speech corpus into the Common Voice-like shape.

    ``path`` is a Hub dataset id or a builder name (``parquet``, ``audiofolder``)
    with local ``data_files``; ``splits`` maps our split names to the source's
    (``{"dev": "validation"}``). Audio is kept encoded: the audio column is cast
    with ``decode=False``, so no decoder backend (torchcodec, FFmpeg) is needed.
    Output columns: the source's other columns, ``sentence``, ``path`` and ``audio``.
    """
    report = stage_report("ingest")
    corpus = {}
    for split, source_split in splits.items():
        table = load_dataset(
            path, name, data_files=data_files, split=source_split, revision=revision
        )
        if audio_column not in table.column_names or text_column not in table.column_names:
            raise ValueError(
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
        kept = split_off_failures(split, with_bytes, report)
        corpus[split] = kept.cast_column("audio_bytes", Value("binary")).rename_column(
            "audio_bytes", "audio"
        )
    return DatasetDict(corpus), report
