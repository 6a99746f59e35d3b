"""Reading quotes: bad rows are dropped and named, the bundled corpus is what NOTICE says."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset, DatasetDict

from peft_pipelines.pipelines.opt_quotes.nodes import ingest_quotes, split_heldout
from peft_pipelines.text.quotes import clean_quote_rows, quote_key
from tests.scratch_project import PROJECT_ROOT

BUNDLED_QUOTES = PROJECT_ROOT / "data/01_raw/english_quotes/quotes.jsonl"


def test_blank_malformed_and_duplicate_quotes_are_dropped_with_their_row_numbers():
    rows = [
        {"quote": "Be yourself.", "author": "A", "tags": ["life"]},
        {"quote": "   ", "author": "B", "tags": []},
        None,  # a line that was not JSON
        {
            "quote": "“Be  yourself.”",
            "author": "C",
            "tags": [],
        },  # same quote, other quotes and spacing
        {"quote": 42, "author": "D"},
        {"quote": "Know thyself.", "author": "", "tags": "greek"},
    ]
    kept, dropped = clean_quote_rows(rows)
    assert [row["row"] for row in kept] == [0, 5]
    assert kept[1]["tags"] == ["greek"]
    assert {(d["row"], d["reason"]) for d in dropped} == {
        (1, "blank_quote"),
        (2, "malformed_row"),
        (3, "duplicate_quote"),
        (4, "blank_quote"),
    }
    assert quote_key("“Be  yourself.”") == quote_key("be yourself.")


def test_a_jsonl_file_with_bad_lines_is_ingested_and_every_row_is_accounted_for():
    lines = [
        json.dumps({"quote": "One.", "author": "A", "tags": []}),
        "{not json",
        json.dumps({"quote": "Two.", "author": "B", "tags": ["x"]}),
        json.dumps({"quote": "one.", "author": "C", "tags": []}),
    ]
    quotes, report = ingest_quotes("\n".join(lines) + "\n")
    assert list(quotes["quote"]) == ["One.", "Two."]
    assert report["rows_in"] == {"all": 4} and report["rows_out"] == {"all": 2}
    assert [d["reason"] for d in report["dropped"]] == ["malformed_row", "duplicate_quote"]


def test_a_datasets_table_is_ingested_as_the_seed_read_the_hub_and_a_wrong_one_is_named():
    table = Dataset.from_dict({"quote": ["One.", " "], "author": ["A", "B"], "tags": [["x"], []]})
    quotes, report = ingest_quotes(DatasetDict({"train": table}))
    assert list(quotes["quote"]) == ["One."]
    assert [d["reason"] for d in report["dropped"]] == ["blank_quote"]
    with pytest.raises(ValueError, match=r"no column\(s\) \['author', 'tags'\]"):
        ingest_quotes(table.select_columns(["quote"]))


def test_the_heldout_split_is_seeded_and_shares_no_quote_with_training():
    quotes, _ = ingest_quotes(BUNDLED_QUOTES.read_text(encoding="utf-8"))
    first, report = split_heldout(quotes, {"heldout_fraction": 0.15, "seed": 42})
    again, _ = split_heldout(quotes, {"heldout_fraction": 0.15, "seed": 42})
    other, _ = split_heldout(quotes, {"heldout_fraction": 0.15, "seed": 7})
    assert (
        list(first["heldout"]["row"])
        == list(again["heldout"]["row"])
        != list(other["heldout"]["row"])
    )
    train = {quote_key(q) for q in first["train"]["quote"]}
    heldout = {quote_key(q) for q in first["heldout"]["quote"]}
    assert not train & heldout
    assert report["rows"] == {"train": len(quotes) - 120, "heldout": 120}


def test_the_bundled_corpus_has_the_seed_columns_and_is_named_in_notice():
    rows = [json.loads(line) for line in BUNDLED_QUOTES.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 300
    assert all({"quote", "author", "tags"} <= set(row) for row in rows)
    assert all(row["quote"].strip() and row["author"].strip() for row in rows)
    assert "data/01_raw/english_quotes" in (PROJECT_ROOT / "NOTICE").read_text()
