"""Guard recordings in the evaluation: decoded to 16 kHz mono, the unusable dropped and counted, and the verdict.

The guard is a user's own transcribed audio (:mod:`peft_pipelines.io.guard_recordings`),
scored with the base and the fine-tuned model alike: the one measure a run has
of what fine-tuning costs on speech unlike the training corpus.
``metrics.json["guard"]`` is :func:`guard_report` (a guard set) or
:data:`NO_GUARD` (none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from peft_pipelines.io.guard_recordings import GuardRecordings
from peft_pipelines.speech.audio import UndecodableAudioError, decode_to_mono

# Fine-tuned CER above the base's by more than this (a fraction): the guard has regressed.
DEFAULT_GUARD_TOLERANCE = 0.02
NO_GUARD = {
    "set": False,
    "note": "no guard set: kedro run --pipelines whisper_zh --params guard_dir=<folder> "
    "(README, 'Checking for forgetting: guard recordings')",
}


@dataclass
class DecodedGuard:
    """The usable guard recordings (id, transcript, 16 kHz mono audio, in order) and the dropped entries."""

    utt_ids: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    recordings: list[np.ndarray] = field(default_factory=list)
    dropped: list[dict[str, str]] = field(default_factory=list)


def decode_guard(guard: GuardRecordings, sampling_rate: int) -> DecodedGuard:
    """Each usable entry's audio decoded to mono at ``sampling_rate``; marked or undecodable entries dropped.

    A dropped entry is ``{"utt_id", "reason", "detail"}``: the folder's marks
    (:class:`GuardRecordings`) and ``undecodable_audio`` (with the decoder's message).
    """
    decoded = DecodedGuard()
    for entry in guard.entries:
        reason, detail = entry.reason, entry.detail
        if not reason:
            try:
                audio = decode_to_mono(entry.audio, sampling_rate)
            except UndecodableAudioError as error:
                reason, detail = "undecodable_audio", f"{entry.utt_id}: {error}"
            else:
                decoded.utt_ids.append(entry.utt_id)
                decoded.references.append(entry.transcript)
                decoded.recordings.append(audio)
                continue
        decoded.dropped.append({"utt_id": entry.utt_id, "reason": reason, "detail": detail})
    return decoded


def guard_verdict(base_cer: float, finetuned_cer: float, tolerance: float) -> str:
    """``worse`` if the fine-tuned CER exceeds the base's by more than ``tolerance``, ``better`` if it is below by more, else ``within tolerance``."""
    # Rounded: a gap of exactly the tolerance (0.23 - 0.21) is not more than it in binary floats either.
    gap = round(finetuned_cer - base_cer, 9)
    if gap > tolerance:
        return "worse"
    if gap < -tolerance:
        return "better"
    return "within tolerance"


def guard_report(
    guard: GuardRecordings,
    decoded: DecodedGuard,
    scores: dict[str, dict[str, Any]] | None,
    tolerance: float,
) -> dict[str, Any]:
    """``metrics.json["guard"]`` for a guard that was set.

    ``base`` and ``finetuned`` (``cer``, ``wer``, ``n``...) as the test split's;
    ``regressed``: the verdict is ``worse``; ``dropped``: entries dropped, by
    reason (``dropped_entries`` names each). ``scores`` None (every entry
    dropped): no figures, ``regressed`` null and a note saying why.
    """
    counts: dict[str, int] = {}
    for row in decoded.dropped:
        counts[row["reason"]] = counts.get(row["reason"], 0) + 1
    report: dict[str, Any] = {"set": True, "folder": str(guard.folder)}
    if scores is None:
        report |= {"note": "no usable recording: every entry was dropped", "regressed": None}
    else:
        verdict = guard_verdict(scores["base"]["cer"], scores["finetuned"]["cer"], tolerance)
        report |= {**scores, "verdict": verdict, "regressed": verdict == "worse"}
    return report | {
        "tolerance": tolerance,
        "window_seconds": "full",
        "entries": len(guard.entries),
        "dropped": dict(sorted(counts.items())),
        "dropped_entries": decoded.dropped,
    }
