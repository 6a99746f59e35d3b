"""Stage reports: how many rows each data stage received, kept, and dropped, and why.

Every data stage returns one of these beside its dataset, so a dropped row is
always counted and named (split, clip path as in the corpus, reason) and the
final ``data_quality.json`` can prove ``rows_in - dropped == kept`` per split.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from datasets import Dataset

from peft_pipelines.errors import UserError

ERROR_COLUMN = "_drop_reason"
DETAIL_COLUMN = "_drop_detail"
# Kept through every stage so a dropped clip is named as in the corpus TSV.
ROW_ID_COLUMN = "path"


class EmptySplitError(UserError, ValueError):
    """A split left with no row to train or evaluate on."""


def _named_detail(row: dict[str, Any], id_column: str) -> str:
    """A dropped row's detail after the row's name (its clip path, or ``row 12``), where it has one."""
    if id_column not in row:
        return row["detail"]
    name = row[id_column] if id_column == ROW_ID_COLUMN else f"{id_column} {row[id_column]}"
    return f"{name}: {row['detail']}"


def empty_split_message(
    split: str, where: str, dropped: list[dict[str, Any]], id_column: str = ROW_ID_COLUMN
) -> str:
    """One line: which split is empty at ``where``, and why (its drops counted by reason, one example).

    The example names its row by ``id_column`` (a clip's path as in the corpus).
    """
    if not dropped:
        return f"split {split!r} has no rows ({where})"
    by_reason = Counter(row["reason"] for row in dropped)
    counts = ", ".join(f"{reason}: {n}" for reason, n in sorted(by_reason.items()))
    example = next((_named_detail(row, id_column) for row in dropped if row.get("detail")), "")
    return (
        f"split {split!r} has no usable rows ({where}): all {len(dropped)} were dropped "
        f"({counts})" + (f", e.g. {example}" if example else "")
    )


def stage_report(stage: str) -> dict[str, Any]:
    """An empty report for ``stage``; fill it with :func:`record_split`."""
    return {"stage": stage, "rows_in": {}, "rows_out": {}, "dropped": []}


def record_split(
    report: dict[str, Any], split: str, rows_in: int, kept: int, dropped: list[dict[str, Any]]
) -> None:
    """Add one split's counts and dropped rows to ``report`` (mutates it)."""
    if rows_in - len(dropped) != kept:
        raise AssertionError(
            f"{report['stage']}/{split}: {rows_in} rows in, {len(dropped)} dropped, {kept} kept: rows were lost"
        )
    report["rows_in"][split] = rows_in
    report["rows_out"][split] = kept
    report["dropped"].extend({"split": split, "stage": report["stage"], **row} for row in dropped)


def mark_failures(data: Dataset, reasons: list[str], details: list[str]) -> Dataset:
    """``data`` with the drop marks ``split_off_failures`` reads ("" where a row is kept)."""
    return data.add_column(ERROR_COLUMN, reasons).add_column(DETAIL_COLUMN, details)


def split_off_failures(
    split: str, data: Dataset, report: dict[str, Any], id_column: str = ROW_ID_COLUMN
) -> Dataset:
    """Drop the rows marked in ``ERROR_COLUMN`` and record them in ``report``, named by ``id_column``.

    Raises :class:`EmptySplitError` if no row of ``split`` is left.

    The one way a stage drops rows. Marking rows in a column and filtering
    afterwards (rather than collecting errors from inside ``map``) keeps the
    bookkeeping correct with ``num_proc > 1``.
    """
    reasons = data[ERROR_COLUMN]
    failed = [i for i, reason in enumerate(reasons) if reason]
    dropped = []
    if failed:
        failures = data.select(failed).select_columns([id_column, ERROR_COLUMN, DETAIL_COLUMN])
        dropped = [
            {id_column: row[id_column], "reason": row[ERROR_COLUMN], "detail": row[DETAIL_COLUMN]}
            for row in failures
        ]
        data = data.select([i for i, reason in enumerate(reasons) if not reason])
    if not len(data):
        # Saved, an empty split would fail a later stage with an unrelated error; stop here.
        raise EmptySplitError(
            empty_split_message(split, f"stage {report['stage']}", dropped, id_column)
        )
    kept = data.remove_columns([ERROR_COLUMN, DETAIL_COLUMN])
    record_split(report, split, rows_in=len(reasons), kept=len(kept), dropped=dropped)
    return kept


def summarise_data_quality(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge the stage reports of one run into the ``data_quality.json`` layout.

    Per split: rows read from the corpus, rows that reached the last stage, and
    drops counted by reason; then every dropped row. Raises if the counts of
    consecutive stages do not chain (a row vanished between two stages).
    """
    first, last = reports[0], reports[-1]
    for earlier, later in zip(reports, reports[1:], strict=False):
        if earlier["rows_out"] != later["rows_in"]:
            raise AssertionError(
                f"stage {later['stage']} received {later['rows_in']} rows but {earlier['stage']} "
                f"produced {earlier['rows_out']}"
            )
    dropped = [row for report in reports for row in report["dropped"]]
    splits = {}
    for split, rows_in in first["rows_in"].items():
        by_reason = Counter(row["reason"] for row in dropped if row["split"] == split)
        splits[split] = {
            "rows_in": rows_in,
            "kept": last["rows_out"][split],
            "dropped": sum(by_reason.values()),
            "dropped_by_reason": dict(sorted(by_reason.items())),
        }
    return {
        "stages": [report["stage"] for report in reports],
        "splits": splits,
        "dropped": dropped,
    }
