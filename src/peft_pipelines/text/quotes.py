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
from pathlib import Path
from typing import Any

QUOTE_COLUMNS = ("quote", "author", "tags")


class QuotesFileError(ValueError):
    """The quotes file is missing or is not JSON Lines."""


def read_jsonl_rows(path: str | Path) -> list[Any]:
    """Every line of a JSON Lines file, parsed; a line that is not JSON is kept as ``None``."""
    file = Path(path)
    if not file.is_file():
        raise QuotesFileError(f"Quotes file not found: {file}")
    rows: list[Any] = []
    with file.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                rows.append(None)
    return rows


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
