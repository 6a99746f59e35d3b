"""Reading a quotes corpus (quote, author, tags) and checking each row.

The bundled corpus is a JSON Lines file; the seed notebook's
``Abirate/english_quotes`` comes from the Hub with the same columns. Rows
that cannot be used are dropped and reported by their row number, never
silently: a blank or non-text quote, a duplicate of an earlier quote (which
could otherwise land in both the training and the held-out split).
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from datasets import Dataset, DatasetDict

from peft_pipelines.errors import UserError

QUOTE_COLUMNS = ("quote", "author", "tags")


def parse_jsonl_rows(text: str) -> list[Any]:
    """Every non-blank line of a JSON Lines text, parsed; a line that is not JSON is kept as ``None``."""
    rows: list[Any] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            rows.append(None)
    return rows


class QuotesFormatError(UserError, ValueError):
    """A quotes table without the train split or the columns the pipeline reads."""


def quote_rows(source: Any) -> list[Any]:
    """The rows of a quotes corpus as the catalog loads it.

    A JSON Lines text (kedro-datasets' ``text.TextDataset``), or a ``datasets``
    table with the columns ``quote``, ``author``, ``tags`` (``huggingface.HFDataset``:
    its ``train`` split, as the seed read ``Abirate/english_quotes``).
    """
    if isinstance(source, str):
        return parse_jsonl_rows(source)
    if isinstance(source, DatasetDict):
        if "train" not in source:
            raise QuotesFormatError(
                f"the quotes dataset has no train split; it has {sorted(source)}"
            )
        source = source["train"]
    if isinstance(source, Dataset):
        missing = sorted(set(QUOTE_COLUMNS) - set(source.column_names))
        if missing:
            raise QuotesFormatError(
                f"the quotes dataset has no column(s) {missing}; it has {source.column_names}"
            )
        return source.select_columns(list(QUOTE_COLUMNS)).to_list()
    raise TypeError(
        f"a quotes corpus is JSON Lines text or a datasets table, not {type(source).__name__}"
    )


def quote_key(text: str) -> str:
    """The form two quotes are compared in: NFKC, case-folded, curly quotes and spacing ignored."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[\"'\u201c\u201d\u2018\u2019]", "", text)
    return re.sub(r"\s+", " ", text).strip()


def clean_quote_rows(rows: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Valid rows as ``{"row", "quote", "author", "tags"}`` and the dropped ones with a reason.

    ``row`` is the row's number in the source (0-based), so a dropped row can be found.
    """
    kept: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows):
        if not isinstance(row, dict):
            dropped.append({"row": number, "reason": "malformed_row", "detail": repr(row)[:200]})
            continue
        quote = row.get("quote")
        if not isinstance(quote, str) or not quote.strip():
            dropped.append({"row": number, "reason": "blank_quote", "detail": repr(quote)[:200]})
            continue
        quote = quote.strip()
        key = quote_key(quote)
        if key in seen:
            dropped.append(
                {"row": number, "reason": "duplicate_quote", "detail": f"same as row {seen[key]}"}
            )
            continue
        seen[key] = number
        tags = row.get("tags") or []
        kept.append(
            {
                "row": number,
                "quote": quote,
                "author": str(row.get("author") or "").strip(),
                "tags": [str(tag) for tag in tags] if isinstance(tags, list) else [str(tags)],
            }
        )
    return kept, dropped
