"""Guard recordings in the evaluation: decoding, dropping and counting, the verdict and the report."""

from __future__ import annotations

import numpy as np
import pytest

from peft_pipelines.io.guard_recordings import read_guard_folder
from peft_pipelines.speech.guard import decode_guard, guard_report, guard_verdict
from tests.support import GUARD_DROPS, make_guard_folder


@pytest.mark.parametrize("layout", ["files", "wav.scp"])
def test_usable_recordings_are_decoded_to_16k_mono_and_every_bad_entry_is_counted(tmp_path, layout):
    guard = read_guard_folder(make_guard_folder(tmp_path, layout))
    decoded = decode_guard(guard, 16000)
    assert decoded.utt_ids == ["g1", "g2", "g3"]
    assert decoded.references[0] == "今天晚上月亮很圆"
    for audio in decoded.recordings:
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert 0.5 < len(audio) / 16000 < 10  # seconds of a bundled clip
    counts = {}
    for row in decoded.dropped:
        counts[row["reason"]] = counts.get(row["reason"], 0) + 1
    assert counts == GUARD_DROPS[layout]
    if layout == "files":
        (bad,) = [row for row in decoded.dropped if row["reason"] == "undecodable_audio"]
        assert bad["utt_id"] == "g_bad" and bad["detail"].startswith("g_bad: ")


@pytest.mark.parametrize(
    ("base", "finetuned", "verdict"),
    [
        (0.21, 0.25, "worse"),
        (0.21, 0.22, "within tolerance"),
        (0.21, 0.23, "within tolerance"),  # exactly the tolerance is not more than it
        (0.25, 0.21, "better"),
    ],
)
def test_the_verdict_compares_the_cers_with_the_tolerance(base, finetuned, verdict):
    assert guard_verdict(base, finetuned, 0.02) == verdict


def test_a_fine_tuned_side_worse_than_the_base_beyond_the_tolerance_is_regressed(tmp_path):
    guard = read_guard_folder(make_guard_folder(tmp_path, "wav.scp"))
    decoded = decode_guard(guard, 16000)
    scores = {
        "base": {"cer": 0.21, "wer": 0.6, "n": 3},
        "finetuned": {"cer": 0.25, "wer": 0.7, "n": 3},
    }
    report = guard_report(guard, decoded, scores, 0.02)
    assert report["regressed"] is True and report["verdict"] == "worse"
    assert report["base"] == scores["base"] and report["finetuned"] == scores["finetuned"]
    assert report["tolerance"] == 0.02 and report["set"] is True
    assert report["dropped"] == GUARD_DROPS["wav.scp"]
    assert report["entries"] == 5 and len(report["dropped_entries"]) == 2
    assert guard_report(guard, decoded, scores, 0.05)["regressed"] is False


def test_a_guard_with_nothing_left_to_score_says_so_and_gives_no_verdict(tmp_path):
    guard = read_guard_folder(make_guard_folder(tmp_path, "files"))
    report = guard_report(guard, decode_guard(guard, 16000), None, 0.02)
    assert report["regressed"] is None
    assert "no usable recording" in report["note"]
    assert "base" not in report
