"""Which export and which parity verdict belong to an adapter version, when later runs made them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peft_pipelines.io.exported_models import (
    EXPORT_VERDICT,
    ExportError,
    ctranslate2_export_of,
    export_verdict_of,
    unverified_export_problem,
)

FIRST, EXPORTED_LATER, SECOND, VERDICT_LATER = (
    "2026-01-01T00.00.00.000Z",
    "2026-01-02T00.00.00.000Z",
    "2026-01-03T00.00.00.000Z",
    "2026-01-04T00.00.00.000Z",
)


def _adapter(root: Path, version: str) -> Path:
    folder = root / "adapter" / version / "adapter"
    folder.mkdir(parents=True)
    return folder


def _export(root: Path, version: str) -> Path:
    folder = root / "ctranslate2" / version / "ctranslate2"
    folder.mkdir(parents=True)
    return folder


def _verdict(root: Path, version: str, **verdict) -> None:
    folder = root / EXPORT_VERDICT / version
    folder.mkdir(parents=True)
    (folder / EXPORT_VERDICT).write_text(json.dumps({"failures": [], **verdict}))


def test_an_export_made_by_a_later_run_belongs_to_the_adapter_that_was_newest_then(tmp_path):
    first = _adapter(tmp_path, FIRST)
    later = _export(tmp_path, EXPORTED_LATER)
    second = _adapter(tmp_path, SECOND)
    assert ctranslate2_export_of(first) == later  # kedro run --tags export after the training run
    # The second adapter has no export of its own: the expected folder, which does not exist.
    assert ctranslate2_export_of(second) == tmp_path / "ctranslate2" / SECOND / "ctranslate2"
    assert export_verdict_of(second) is None


def test_the_same_run_export_wins_and_a_later_verdict_is_read(tmp_path):
    adapter = _adapter(tmp_path, FIRST)
    same_run = _export(tmp_path, FIRST)
    assert ctranslate2_export_of(adapter) == same_run
    assert export_verdict_of(adapter) is None
    assert "no parity verdict" in unverified_export_problem(adapter)
    _verdict(tmp_path, FIRST, passed=False, failures=["test clips: CER 0.150"])
    assert "failed its parity check: test clips: CER 0.150" in unverified_export_problem(adapter)
    _verdict(tmp_path, VERDICT_LATER, passed=True)  # the parity check rerun alone, later
    assert export_verdict_of(adapter).passed and unverified_export_problem(adapter) is None


def test_a_verdict_of_an_older_export_is_not_this_ones(tmp_path):
    adapter = _adapter(tmp_path, FIRST)
    _export(tmp_path, FIRST)
    _verdict(tmp_path, FIRST, passed=True)
    _export(tmp_path, EXPORTED_LATER)  # exported again: its verdict is still to come
    assert export_verdict_of(adapter) is None


def test_an_unreadable_verdict_is_one_line(tmp_path):
    adapter = _adapter(tmp_path, FIRST)
    _export(tmp_path, FIRST)
    (tmp_path / EXPORT_VERDICT / FIRST).mkdir(parents=True)
    (tmp_path / EXPORT_VERDICT / FIRST / EXPORT_VERDICT).write_text("{not json")
    with pytest.raises(ExportError, match="is not a parity verdict"):
        export_verdict_of(adapter)
    assert "is not a parity verdict" in unverified_export_problem(adapter)


def test_a_folder_outside_the_layout_has_no_export(tmp_path):
    assert ctranslate2_export_of(tmp_path / "my-adapter") is None
