"""Synthetic Mandarin speech from espeak-ng, fed pinyin with tone digits.

espeak-ng's ``cmn-latn-pinyin`` voice (and its variants ``+f3``, ``+m3``...)
also accepts Chinese characters, but its character dictionary misreads
polyphones (银行 as yin2 xing2), so we give it pinyin from ``pypinyin`` with
the tone changes pypinyin leaves out. Do not use ``-v cmn`` / ``-v zh``: they
read Latin text as English, tone digits included ("ming two").

Used by ``make_common_voice_sample.py`` (the bundled corpus), which imports it
by plain name from this folder. Needs the ``espeak-ng`` program and the
``pypinyin`` package (extra ``assets``).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import TypedDict

import numpy as np
import soundfile as sf

ESPEAK = "espeak-ng"
_PINYIN_RE = re.compile(r"^[a-z]+[1-5]$")
# espeak-ng marks a switch to another language's phonemes like "(en)".
_LANGUAGE_SWITCH_RE = re.compile(r"\([a-z-]+\)")


class Voice(TypedDict):
    """One espeak-ng voice variant: voice name, words per minute, pitch 0-99."""

    voice: str
    speed: int
    pitch: int
    gender: str


class SynthesisError(RuntimeError):
    """espeak-ng failed, or did not speak the text as Mandarin syllables."""


# Readings pypinyin gets wrong in the corpus sentences (it reads single characters
# out of context): polyphones (长 "long", 只 as a measure word, 干净 not gan4), and
# the neutral second syllable of kinship terms, 服 and 西.
PINYIN_FIXES: dict[str, str] = {
    "很长": "hen3 chang2",
    "只鸟": "zhi1 niao3",
    "妈妈": "ma1 ma5",
    "爸爸": "ba4 ba5",
    "奶奶": "nai3 nai5",
    "姐姐": "jie3 jie5",
    "哥哥": "ge1 ge5",
    "爷爷": "ye2 ye5",
    "妹妹": "mei4 mei5",
    "弟弟": "di4 di5",
    "衣服": "yi1 fu5",
    "只小": "zhi1 xiao3",
    "干净": "gan1 jing4",
    "东西": "dong1 xi5",
}


def to_pinyin(sentence: str) -> str:
    """Pinyin with tone digits (neutral tone = 5), one syllable per character.

    espeak-ng applies third-tone sandhi to pinyin input itself, so that is left
    to it; the tone changes of 一 and 不 are applied here (pypinyin only knows
    them inside dictionary phrases), as are ``PINYIN_FIXES`` and neutral 得.
    """
    # Imported here so that importing this module does not need pypinyin.
    from pypinyin import Style, lazy_pinyin  # noqa: PLC0415

    syllables = lazy_pinyin(sentence, style=Style.TONE3, neutral_tone_with_five=True)
    if len(syllables) != len(sentence):
        raise ValueError(f"{sentence!r}: {len(syllables)} syllables for {len(sentence)} characters")
    for phrase, reading in PINYIN_FIXES.items():
        start = sentence.find(phrase)
        while start != -1:
            syllables[start : start + len(phrase)] = reading.split()
            start = sentence.find(phrase, start + 1)
    for i, char in enumerate(sentence):
        next_tone = syllables[i + 1][-1] if i + 1 < len(sentence) else ""
        if char == "得" and syllables[i] == "de2" and sentence[i + 1 : i + 2] != "到":
            syllables[i] = "de5"  # complement particle (跑得快), not dé
        elif char == "不" and syllables[i] == "bu4" and next_tone == "4":
            syllables[i] = "bu2"
        elif char == "一" and syllables[i] == "yi1" and next_tone:
            syllables[i] = "yi2" if next_tone == "4" else "yi4"
    for char, syllable in zip(sentence, syllables, strict=True):
        if not _PINYIN_RE.match(syllable):
            raise ValueError(f"{sentence!r}: no pinyin for {char!r} ({syllable!r})")
    return " ".join(syllables)


def espeak_command(voice: Voice, text: str, wav_path: Path) -> list[str]:
    """The espeak-ng command line that speaks ``text`` into ``wav_path`` and prints its phonemes."""
    return [
        ESPEAK,
        "-x",
        "-v",
        voice["voice"],
        "-s",
        str(voice["speed"]),
        "-p",
        str(voice["pitch"]),
        "-w",
        str(wav_path),
        text,
    ]


def synthesize(sentence: str, voice: Voice, wav_path: Path) -> tuple[np.ndarray, int]:
    """Speak a Chinese ``sentence`` with espeak-ng: mono float32 audio and its sample rate (22,050 Hz).

    Raises :class:`SynthesisError` unless espeak-ng's phonemes are Mandarin
    only, one syllable per character.
    """
    try:
        result = subprocess.run(
            espeak_command(voice, to_pinyin(sentence), wav_path),
            capture_output=True,
            text=True,
            check=True,
        )
    except subprocess.CalledProcessError as error:
        raise SynthesisError(f"{ESPEAK} failed on {sentence!r}: {error.stderr.strip()}") from error
    phonemes = result.stdout.strip()
    if _LANGUAGE_SWITCH_RE.search(phonemes) or phonemes.count("_|") != len(sentence):
        raise SynthesisError(
            f"{sentence!r} with {voice['voice']}: not Mandarin syllables: {phonemes!r}"
        )
    audio, sample_rate = sf.read(wav_path, dtype="float32", always_2d=False)
    if audio.ndim != 1:
        raise SynthesisError(f"{ESPEAK} wrote {audio.shape[1]} channels, expected 1")
    return audio, sample_rate
