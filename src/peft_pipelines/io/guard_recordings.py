"""Guard recordings: a user's own transcribed audio, in the Kaldi/WeNet folder layout, to catch forgetting.

A guard folder holds a ``text`` file of ``<utt_id> <transcript>`` lines and
the audio, either named by a ``wav.scp`` of ``<utt_id> <path>`` lines (a path
relative to the folder, or absolute) or as ``<utt_id>.wav``, ``.flac`` or
``.mp3`` files beside ``text``. With a ``wav.scp``, files beside ``text`` are
not looked at. The audio is read as encoded bytes; decoding it (to 16 kHz
mono) is the speech layer's work, in the evaluation.

An entry that cannot be used is kept and marked, for the evaluation to drop
and count: ``no_audio`` (an id in ``text`` with no audio), ``no_transcript``
(audio whose id ``text`` lacks), ``empty_transcript``, ``missing_audio`` (a
``wav.scp`` path that is no file), ``wav_scp_command`` (a Kaldi pipe, ``... |``,
which is never run), ``malformed_line``, ``duplicate_id`` (a second line of
an id: the first is kept) and ``undecodable_text_line`` (not UTF-8).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from peft_pipelines.errors import UserError
from peft_pipelines.io.common_voice import decoded_lines

TEXT_FILE = "text"
WAV_SCP_FILE = "wav.scp"
# The audio files a folder without wav.scp may hold beside ``text`` (any case), in the order an id's file is chosen.
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3")
GUARD_HELP = (
    "a guard folder holds a `text` file of `<utt_id> <transcript>` lines and either a `wav.scp` "
    "of `<utt_id> <path>` lines or `<utt_id>.wav|.flac|.mp3` files beside it (README, "
    "'Checking for forgetting: guard recordings')"
)


class GuardFolderError(UserError, FileNotFoundError):
    """The configured guard folder does not exist, has no ``text`` file, or holds no usable entry."""


@dataclass(frozen=True)
class GuardEntry:
    """One recording of a guard folder: its id, transcript, audio bytes (b"" if unread) and drop mark ("" if usable)."""

    utt_id: str
    transcript: str
    audio: bytes = b""
    reason: str = ""
    detail: str = ""


@dataclass(frozen=True)
class GuardRecordings:
    """The entries of a guard folder, in the order of ``text`` (then audio that has no transcript)."""

    folder: Path
    entries: list[GuardEntry]

    def dropped_by_reason(self) -> dict[str, int]:
        """How many entries are marked, per reason."""
        return dict(sorted(Counter(e.reason for e in self.entries if e.reason).items()))


def _id_lines(file: Path) -> tuple[dict[str, str], list[GuardEntry]]:
    """``<id> <rest>`` lines of ``file`` as {id: rest}, and the lines that cannot be used, marked."""
    values: dict[str, str] = {}
    bad: list[GuardEntry] = []
    for line_no, text, problem in decoded_lines(file):
        fields = text.strip().split(maxsplit=1)
        where = f"{file.name} line {line_no}"
        if not fields:
            continue
        utt_id, rest = fields[0], fields[1].strip() if len(fields) > 1 else ""
        if problem:
            bad.append(
                GuardEntry(utt_id, "", reason="undecodable_text_line", detail=f"{where}: {problem}")
            )
        elif utt_id in values:
            bad.append(
                GuardEntry(utt_id, rest, reason="duplicate_id", detail=f"{where} repeats {utt_id}")
            )
        else:
            values[utt_id] = rest
    return values, bad


# Where an id's audio is: a file, or why a wav.scp line names none (reason, detail).
AudioSource = Path | tuple[str, str]


def _audio_files_of(folder: Path) -> tuple[dict[str, AudioSource], list[GuardEntry]]:
    """{id: audio file or why none} of a guard folder (``wav.scp``'s lines, or the audio files beside ``text``), and its unusable extra lines."""
    scp = folder / WAV_SCP_FILE
    if not scp.is_file():
        beside = sorted(
            (AUDIO_SUFFIXES.index(f.suffix.lower()), f.name, f)
            for f in folder.iterdir()
            if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file()
        )
        files: dict[str, AudioSource] = {}
        for _, _, file in beside:
            files.setdefault(file.stem, file)
        return files, []
    named, bad = _id_lines(scp)
    files = {}
    for utt_id, target in named.items():
        if not target:
            files[utt_id] = ("malformed_line", f"{WAV_SCP_FILE} names no file for {utt_id}")
        elif target.endswith("|"):
            files[utt_id] = (
                "wav_scp_command",
                f"{WAV_SCP_FILE}: {target!r} is a command, which is never run: name an audio file",
            )
        else:
            files[utt_id] = folder / target  # an absolute target stays itself
    return files, bad


def _entry(
    utt_id: str, transcript: str | None, audio: AudioSource | None, *, read_audio: bool
) -> GuardEntry:
    """One entry, marked with the first thing wrong with it (``transcript`` None: ``text`` has no line for it)."""
    if isinstance(audio, tuple):
        return GuardEntry(utt_id, transcript or "", reason=audio[0], detail=audio[1])
    if audio is None:
        return GuardEntry(
            utt_id,
            transcript or "",
            reason="no_audio",
            detail=f"no audio for {utt_id} ({GUARD_HELP})",
        )
    if transcript is None:
        return GuardEntry(
            utt_id, "", reason="no_transcript", detail=f"{audio} has no line in {TEXT_FILE}"
        )
    if not audio.is_file():
        return GuardEntry(utt_id, transcript, reason="missing_audio", detail=f"no file {audio}")
    if not transcript:
        return GuardEntry(
            utt_id,
            "",
            reason="empty_transcript",
            detail=f"{TEXT_FILE} has no transcript for {utt_id}",
        )
    return GuardEntry(utt_id, transcript, audio=audio.read_bytes() if read_audio else b"")


def _text_file(folder: Path) -> Path:
    if not folder.is_dir():
        raise GuardFolderError(
            f"Guard folder not found: {folder}. {GUARD_HELP[0].upper()}{GUARD_HELP[1:]}."
        )
    text = folder / TEXT_FILE
    if not text.is_file():
        raise GuardFolderError(f"{folder} has no `{TEXT_FILE}` file: {GUARD_HELP}.")
    return text


def read_guard_folder(folder: Path, *, read_audio: bool = True) -> GuardRecordings:
    """Every entry of a guard folder, each unusable one marked with its reason (see the module's docstring).

    ``read_audio=False`` checks that the files exist without reading them (the
    run's input check). Raises :class:`GuardFolderError` if the folder or its
    ``text`` file does not exist.
    """
    transcripts, bad_text = _id_lines(_text_file(folder))
    audio, bad_scp = _audio_files_of(folder)
    entries = [
        _entry(utt_id, transcripts.get(utt_id), audio.get(utt_id), read_audio=read_audio)
        for utt_id in [*transcripts, *(i for i in audio if i not in transcripts)]
    ]
    return GuardRecordings(folder=folder, entries=[*entries, *bad_text, *bad_scp])


class GuardRecordingsDataset(AbstractDataset[None, GuardRecordings | None]):
    """A guard folder (Kaldi/WeNet layout) read as :class:`GuardRecordings`; no ``path``: no guard (loads None).

    Example catalog entry (``kedro run --params guard_dir=/data/my_guard`` sets the path)::

        whisper_zh.guard_recordings:
          type: peft_pipelines.io.GuardRecordingsDataset
          path: ${runtime_params:guard_dir, ""}
    """

    def __init__(self, *, path: str | None = None, metadata: dict[str, Any] | None = None) -> None:
        self._folder = Path(path) if path else None
        self.metadata = metadata

    def load(self) -> GuardRecordings | None:
        return read_guard_folder(self._folder) if self._folder is not None else None

    def preflight(self) -> None:
        """Before a run: raise if a guard folder is set but missing, lacks ``text``, or has no usable entry."""
        if self._folder is None:
            return
        guard = read_guard_folder(self._folder, read_audio=False)
        if not any(not e.reason for e in guard.entries):
            counts = ", ".join(f"{r}: {n}" for r, n in guard.dropped_by_reason().items())
            raise GuardFolderError(
                f"guard folder {self._folder} has no usable recording ({counts or 'no entries'}): {GUARD_HELP}"
            )

    def fingerprint_paths(self) -> list[Path]:
        """The folder, and any audio its ``wav.scp`` names outside it: a changed recording reruns the evaluation."""
        if self._folder is None or not self._folder.is_dir():
            return []
        root = self._folder.resolve()
        files, _ = _audio_files_of(self._folder)
        outside = sorted(
            {
                f.resolve()
                for f in files.values()
                if isinstance(f, Path) and not f.resolve().is_relative_to(root)
            }
        )
        return [self._folder, *outside]

    def save(self, data: GuardRecordings | None) -> None:  # noqa: ARG002 (AbstractDataset's signature; an input)
        raise DatasetError(
            f"{self._folder} holds the guard recordings: the pipelines never write it"
        )

    def _exists(self) -> bool:
        return self._folder is None or self._folder.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._folder) if self._folder is not None else None}
