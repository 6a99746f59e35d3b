"""The guard folder (Kaldi/WeNet layout) as the catalog reads it: entries, drop marks, checks, fingerprints."""

from __future__ import annotations

from pathlib import Path

import pytest

from peft_pipelines.io.guard_recordings import (
    GuardFolderError,
    GuardRecordingsDataset,
    read_guard_folder,
)
from tests.support import make_guard_folder

# The drops the folder itself shows (an undecodable file is found when it is decoded).
FOLDER_MARKS = {
    "files": {"no_audio": 1, "empty_transcript": 1, "no_transcript": 1},
    "wav.scp": {"missing_audio": 1, "empty_transcript": 1},
}


@pytest.mark.parametrize("layout", ["files", "wav.scp"])
def test_each_layout_reads_its_usable_entries_with_their_audio_and_marks_the_rest(tmp_path, layout):
    folder = make_guard_folder(tmp_path, layout)
    guard = GuardRecordingsDataset(path=str(folder)).load()
    usable = {e.utt_id: e for e in guard.entries if not e.reason}
    expected = {"g1", "g2", "g3", "g_bad"} if layout == "files" else {"g1", "g2", "g3"}
    assert set(usable) == expected
    assert usable["g1"].transcript == "今天晚上月亮很圆"
    g3 = tmp_path / "elsewhere" / "g3.flac" if layout == "wav.scp" else folder / "g3.flac"
    assert usable["g3"].audio == g3.read_bytes()
    assert guard.dropped_by_reason() == FOLDER_MARKS[layout]
    assert all(e.audio == b"" for e in guard.entries if e.reason)
    assert [e.utt_id for e in guard.entries][:3] == ["g1", "g2", "g3"]  # the order of `text`


def test_wav_scp_commands_repeated_ids_and_lines_without_a_path_are_marked(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    (tmp_path / "text").write_text("a 你好\na 又一个\nb 再见\nc 谢谢\n", encoding="utf-8")
    (tmp_path / "wav.scp").write_text("a a.wav\nb sox b.flac -t wav - |\nc\n", encoding="utf-8")
    guard = read_guard_folder(tmp_path)
    reasons = {(e.utt_id, e.reason) for e in guard.entries}
    assert reasons == {
        ("a", ""),
        ("a", "duplicate_id"),
        ("b", "wav_scp_command"),
        ("c", "malformed_line"),
    }


def test_audio_beside_text_is_found_whatever_the_case_of_its_suffix_wav_first(tmp_path):
    (tmp_path / "text").write_text("a 你好\n", encoding="utf-8")
    (tmp_path / "a.mp3").write_bytes(b"mp3")
    (tmp_path / "a.WAV").write_bytes(b"wav")
    (entry,) = read_guard_folder(tmp_path).entries
    assert entry.audio == b"wav" and not entry.reason


def test_no_path_is_no_guard(tmp_path):
    dataset = GuardRecordingsDataset(path=None)
    assert dataset.load() is None
    assert dataset.fingerprint_paths() == []
    dataset.preflight()  # nothing to check
    assert GuardRecordingsDataset(path="").load() is None


def test_the_input_check_stops_a_missing_folder_one_without_text_or_without_a_usable_entry(
    tmp_path,
):
    missing = tmp_path / "nowhere"
    with pytest.raises(GuardFolderError, match=f"Guard folder not found: {missing}"):
        GuardRecordingsDataset(path=str(missing)).preflight()
    with pytest.raises(GuardFolderError, match="has no `text` file"):
        GuardRecordingsDataset(path=str(tmp_path)).preflight()
    (tmp_path / "text").write_text("a 你好\nb\n", encoding="utf-8")
    (tmp_path / "b.wav").write_bytes(b"RIFF")
    with pytest.raises(GuardFolderError) as stopped:
        GuardRecordingsDataset(path=str(tmp_path)).preflight()
    assert "no usable recording (empty_transcript: 1, no_audio: 1)" in str(stopped.value)
    assert "\n" not in str(stopped.value)


def test_fingerprints_cover_the_folder_and_audio_named_outside_it(tmp_path):
    folder = make_guard_folder(tmp_path, "wav.scp")
    paths = GuardRecordingsDataset(path=str(folder)).fingerprint_paths()
    assert paths == [folder, (tmp_path / "elsewhere" / "g3.flac").resolve()]
    files = make_guard_folder(tmp_path / "files", "files")
    assert GuardRecordingsDataset(path=str(files)).fingerprint_paths() == [Path(files)]
