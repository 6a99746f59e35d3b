"""A file's transcript as text, SubRip (``.srt``), WebVTT (``.vtt``) or JSON, its timestamps those of its speech chunks.

The decoder runs without Whisper's timestamp tokens; each speech chunk the
detector cut (:func:`peft_pipelines.speech.vad.group_regions`) knows where it
starts and ends in the file, and that is the cue's time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from peft_pipelines.speech.transcribe import FileTranscript, Segment

FORMATS = ("txt", "srt", "vtt", "json")


def clock(seconds: float, decimal: str) -> str:
    """``HH:MM:SS<decimal>mmm``: SubRip writes a comma before the milliseconds, WebVTT a full stop."""
    millis = round(max(seconds, 0.0) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    whole, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{decimal}{millis:03d}"


def subrip(segments: Sequence[Segment]) -> str:
    """SubRip cues, numbered from 1, separated by blank lines."""
    cues = [
        f"{number}\n{clock(s.start, ',')} --> {clock(s.end, ',')}\n{s.text}\n"
        for number, s in enumerate(segments, start=1)
    ]
    return "\n".join(cues)


def webvtt(segments: Sequence[Segment]) -> str:
    """A WebVTT document: its header, then one cue per segment."""
    cues = [f"{clock(s.start, '.')} --> {clock(s.end, '.')}\n{s.text}\n" for s in segments]
    return "\n".join(["WEBVTT\n", *cues])


def transcript_json(name: str, heard: FileTranscript) -> str:
    """One line of JSON: the file, its text, seconds, speech seconds and segments."""
    return json.dumps(
        {
            "file": name,
            "text": heard.text,
            "seconds": round(heard.seconds, 3),
            "speech_seconds": round(heard.speech_seconds, 3),
            "segments": [
                {"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text}
                for s in heard.segments
            ],
        },
        ensure_ascii=False,
    )


def render_transcript(name: str, heard: FileTranscript, form: str) -> str:
    """The document of one file in ``form`` (one of :data:`FORMATS`); txt is the text alone."""
    if form == "srt":
        return subrip(heard.segments)
    if form == "vtt":
        return webvtt(heard.segments)
    if form == "json":
        return transcript_json(name, heard) + "\n"
    return heard.text + "\n" if heard.text else ""
