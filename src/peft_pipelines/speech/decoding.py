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
# Encoder input lengths (s) to fit a batch into: short clips need not pay for 30 s of encoder.
ENCODER_WINDOWS = (5.0, 10.0, 15.0, 20.0, 30.0)


@dataclass(frozen=True)
class DecodingOptions:
    """Greedy decoding settings (defaults: the parameters file's).

    ``language``/``task`` are forced in the decoder prompt; each batch may
    produce at most ``tokens_per_second`` x its longest clip (+8) new tokens,
    never more than ``max_new_tokens``; ``batch_size`` clips are decoded at a
    time; ``vad`` is the voice activity detector in front of the decoder
    (``None``: every clip is decoded). ``encoder_windows`` are the encoder
    input lengths (seconds) an engine that can cut its input
    (:mod:`peft_pipelines.speech.ctranslate2_engine`) chooses from for each
    batch, the smallest that holds its longest clip; the transformers path
    always uses the model's own window.
    """

    language: str = "zh"
    task: str = "transcribe"
    max_new_tokens: int = 224
    tokens_per_second: float = 8.0
    batch_size: int = 16
    vad: VadSettings | None = DEFAULT_VAD
    encoder_windows: tuple[float, ...] = ENCODER_WINDOWS

    def __post_init__(self) -> None:
        problems = [
            f"decoding {name} must be a whole number > 0, not {getattr(self, name)!r}"
            for name in ("max_new_tokens", "batch_size")
            if isinstance(getattr(self, name), bool)
            or not isinstance(getattr(self, name), int)
            or getattr(self, name) < 1
        ]
        rate = self.tokens_per_second
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
            problems.append(f"decoding tokens_per_second must be > 0, not {rate!r}")
        windows = self.encoder_windows
        if not windows or any(
            isinstance(w, bool) or not isinstance(w, int | float) or not w > 0 for w in windows
        ):
            problems.append(f"decoding encoder_windows must be seconds > 0, not {windows!r}")
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

        def setting(section: Mapping[str, Any], name: str) -> Any:
            # Left out or null: the default. Any other value is checked as given, never coerced.
            value = section.get(name)
            return getattr(defaults, name) if value is None else value

        return cls(
            language=str(setting(model, "language")),
            task=str(setting(model, "task")),
            max_new_tokens=setting(evaluation, "max_new_tokens"),
            tokens_per_second=setting(evaluation, "tokens_per_second"),
            batch_size=setting(evaluation, "batch_size"),
            vad=VadSettings.from_parameters(evaluation.get("vad", vars(DEFAULT_VAD))),
        )

    def replace(self, **overrides: Any) -> DecodingOptions:
        """A copy with the fields given (``None`` values are left as they are: an unset flag)."""
        return dataclasses.replace(
            self, **{name: value for name, value in overrides.items() if value is not None}
        )
