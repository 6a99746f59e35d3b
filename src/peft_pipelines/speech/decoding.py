"""How Whisper decodes: one frozen set of settings, built from the pipeline's parameters.

The evaluation node, the ``transcribe`` command and the demo all decode with
:class:`DecodingOptions` made by :meth:`DecodingOptions.from_parameters` from
``params:whisper_zh.model`` and ``params:whisper_zh.evaluation``; a command-line
flag overrides a field with :meth:`DecodingOptions.replace`. A transcript is
a :class:`Transcript`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from peft_pipelines.errors import ConfigurationError
from peft_pipelines.speech.vad import DEFAULT_VAD, VadSettings


class Transcript(NamedTuple):
    """What decoding one utterance gave."""

    text: str
    loop_cut: bool  # the decoder repeated itself and the repeats were cut
    no_speech: bool  # the voice activity detector heard no speech: not decoded, text ""


NO_SPEECH = Transcript(text="", loop_cut=False, no_speech=True)


@dataclass(frozen=True)
class DecodingOptions:
    """Greedy decoding settings (defaults: the parameters file's).

    ``language``/``task`` are forced in the decoder prompt; each batch may
    produce at most ``tokens_per_second`` x its longest clip (+8) new tokens,
    never more than ``max_new_tokens``; ``batch_size`` clips are decoded at a
    time; ``vad`` is the voice activity detector in front of the decoder
    (``None``: every clip is decoded).
    """

    language: str = "zh"
    task: str = "transcribe"
    max_new_tokens: int = 224
    tokens_per_second: float = 8.0
    batch_size: int = 16
    vad: VadSettings | None = DEFAULT_VAD

    def __post_init__(self) -> None:
        problems = [
            f"decoding {name} must be a whole number > 0, not {getattr(self, name)!r}"
            for name in ("max_new_tokens", "batch_size")
            if isinstance(getattr(self, name), bool)
            or not isinstance(getattr(self, name), int)
            or getattr(self, name) < 1
        ]
        if not self.tokens_per_second > 0:
            problems.append(f"decoding tokens_per_second must be > 0, not {self.tokens_per_second}")
        if problems:
            raise ConfigurationError("\n".join(problems))

    @classmethod
    def from_parameters(
        cls, model: Mapping[str, Any], evaluation: Mapping[str, Any] | None = None
    ) -> DecodingOptions:
        """The options of ``params:whisper_zh.model`` (language, task) and ``.evaluation`` (the rest).

        A setting the evaluation section leaves out keeps its default; an
        absent ``vad`` is the default detector, an explicit null turns it off.
        """
        evaluation = evaluation or {}
        defaults = cls()
        vad = evaluation.get("vad", vars(DEFAULT_VAD))
        return cls(
            language=str(model.get("language", defaults.language)),
            task=str(model.get("task", defaults.task)),
            max_new_tokens=int(evaluation.get("max_new_tokens") or defaults.max_new_tokens),
            tokens_per_second=float(
                evaluation.get("tokens_per_second") or defaults.tokens_per_second
            ),
            batch_size=int(evaluation.get("batch_size") or defaults.batch_size),
            vad=VadSettings.from_parameters(vad),
        )

    def replace(self, **overrides: Any) -> DecodingOptions:
        """A copy with the fields given (``None`` values are left as they are: an unset flag)."""
        return dataclasses.replace(
            self, **{name: value for name, value in overrides.items() if value is not None}
        )
