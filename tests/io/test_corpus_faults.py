"""A user's accidents in a Common Voice folder: each ends in a report entry or one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict

from peft_pipelines.data_quality import ERROR_COLUMN, EmptySplitError, split_off_failures
from peft_pipelines.io.common_voice import (
    CommonVoiceReleaseDataset,
    CorpusFormatError,
    read_common_voice_release,
)
from peft_pipelines.pipelines.whisper_zh.nodes import ingest_corpus
from peft_pipelines.speech.nodes import resample_to_16k
from tests.support import copy_corpus_head

SPLITS = ["train", "dev", "test"]


@pytest.fixture
def corpus(tmp_path) -> Path:
    """Three bundled rows per split, with their clips: a corpus a test may spoil."""
    return copy_corpus_head(tmp_path / "corpus", dict.fromkeys(SPLITS, 3))


def _prefix_sentence(tsv: Path, index: int, prefix: bytes) -> None:
    lines = tsv.read_bytes().split(b"\n")
    fields = lines[index].split(b"\t")
    fields[2] = prefix + fields[2]
    lines[index] = b"\t".join(fields)
    tsv.write_bytes(b"\n".join(lines))


def test_a_latin1_byte_drops_its_row_with_file_and_line_and_the_rest_goes_on(corpus):
    # A sentence saved by a Latin-1 editor: "é" is the single byte 0xe9, not UTF-8.
    _prefix_sentence(corpus / "train.tsv", 2, b"caf\xe9 ")
    raw, report = ingest_corpus(read_common_voice_release(corpus, SPLITS))
    assert len(raw["train"]) == 2 and len(raw["dev"]) == 3
    (dropped,) = report["dropped"]
    assert dropped["reason"] == "undecodable_tsv_row"
    assert dropped["detail"].startswith("train.tsv line 3: byte 0xe9 at position")
    assert dropped["path"].endswith(".mp3")  # the row is named by its clip


def test_a_file_that_is_not_text_stops_the_run_with_one_line_naming_it(corpus):
    (corpus / "dev.tsv").write_bytes(b"\x00\x01PK\x03\x04" * 50)
    with pytest.raises(CorpusFormatError, match=r"dev\.tsv is not a text file"):
        CommonVoiceReleaseDataset(path=str(corpus)).preflight()


def test_a_byte_order_mark_does_not_rename_the_first_column(corpus):
    tsv = corpus / "train.tsv"
    tsv.write_bytes(b"\xef\xbb\xbf" + tsv.read_bytes())
    train = read_common_voice_release(corpus, ["train"])["train"]
    assert train.column_names[0] == "client_id"
    assert len(train) == 3 and not any(train[ERROR_COLUMN])


def test_a_split_with_only_its_header_stops_the_run_before_anything_is_read(corpus):
    tsv = corpus / "test.tsv"
    tsv.write_text(tsv.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    with pytest.raises(EmptySplitError, match=r"^split 'test' has no rows \(.*test\.tsv\)$"):
        CommonVoiceReleaseDataset(path=str(corpus)).preflight()
    # Read anyway (a caller without the preflight): ingest stops before returning anything.
    with pytest.raises(EmptySplitError, match="split 'test' has no rows"):
        ingest_corpus(read_common_voice_release(corpus, SPLITS))


def test_a_split_whose_every_clip_is_missing_says_so_with_the_counts(corpus):
    for clip in (corpus / "clips").iterdir():
        if clip.name in (corpus / "dev.tsv").read_text(encoding="utf-8"):
            clip.unlink()
    with pytest.raises(EmptySplitError) as stopped:
        CommonVoiceReleaseDataset(path=str(corpus)).preflight()
    message = str(stopped.value)
    assert message.startswith("split 'dev' has no usable rows")
    assert "all 3 were dropped (missing_clip: 3), e.g. no file " in message
    assert "\n" not in message


def test_a_split_whose_every_clip_is_undecodable_stops_the_stage_that_finds_it():
    rows = Dataset.from_dict(
        {"path": ["a.mp3", "b.mp3"], "sentence": ["你好", "再见"], "audio": [b"not audio"] * 2}
    )
    window = {"seconds": 30.0, "samples": 480_000, "frames": 3000, "sampling_rate": 16000}
    with pytest.raises(EmptySplitError, match=r"undecodable_audio: 2"):
        resample_to_16k(
            DatasetDict({"train": rows}), {"sampling_rate": 16000, "batch_size": 8}, window
        )


def test_an_empty_split_is_never_handed_on():
    empty = Dataset.from_dict({"path": [], ERROR_COLUMN: [], "_drop_detail": []})
    with pytest.raises(EmptySplitError, match=r"^split 'heldout' has no rows \(stage tokenize\)$"):
        split_off_failures(
            "heldout", empty, {"stage": "tokenize", "rows_in": {}, "rows_out": {}, "dropped": []}
        )
