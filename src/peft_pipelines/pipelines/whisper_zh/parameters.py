"""The schema of ``whisper_zh``'s parameters (conf/*/parameters_whisper_zh.yml), checked before a run.

Each section lists the settings the nodes read, with their types and ranges;
``peft`` and ``training`` are checked against peft and ``Seq2SeqTrainingArguments``
(:mod:`peft_pipelines.training.parameter_schema`). A new setting goes here too,
or every run stops at it as an unknown key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from transformers import PretrainedConfig, Seq2SeqTrainingArguments
from transformers.models.whisper.tokenization_whisper import LANGUAGES, TO_LANGUAGE_CODE

from peft_pipelines.io.model_loading import WHISPER_POSITIONS_PER_SECOND
from peft_pipelines.speech.decoding import DecodingOptions
from peft_pipelines.speech.export_parity import TranscriptParitySettings
from peft_pipelines.speech.guard import DEFAULT_GUARD_TOLERANCE
from peft_pipelines.speech.vad import DEFAULT_VAD
from peft_pipelines.training.parameter_schema import (
    BaseModelSection,
    Count,
    ExportSection,
    PipelineParameters,
    PipelineSection,
    Positive,
    Section,
)

# The columns the data stages read; `path`, the row id, is always kept.
READ_COLUMNS = ("audio", "sentence")


class AudioSection(Section):
    sampling_rate: Literal[16000] = 16000  # Whisper's feature extractor takes 16 kHz only
    batch_size: Count = 32
    num_proc: Count | None = None
    decode_threads: Count | None = None


class ModelSection(Section):
    language: str
    task: Literal["transcribe", "translate"]

    @model_validator(mode="after")
    def _a_language_of_whisper(self) -> ModelSection:
        if self.language.lower() not in {*LANGUAGES, *TO_LANGUAGE_CODE}:
            raise ValueError(
                f"language {self.language!r} is not one of Whisper's language codes (zh, en, ...)"
            )
        return self


class FeaturesSection(Section):
    max_label_tokens: Count
    batch_size: Count = 32
    num_proc: Count | None = None


class WhisperBaseModelSection(BaseModelSection):
    architecture: Literal["whisper"]
    window_seconds: Positive


class LongUtterancesSection(Section):
    split: str = "test"
    min_seconds: Positive
    max_seconds: Positive
    min_clips: Count
    max_clips: Count
    seed: int = 0

    @model_validator(mode="after")
    def _bounds_in_order(self) -> LongUtterancesSection:
        if self.min_seconds > self.max_seconds or self.min_clips > self.max_clips:
            raise ValueError(
                "min_seconds and min_clips must not exceed max_seconds and max_clips "
                f"(got {self.min_seconds:g}-{self.max_seconds:g} s, "
                f"{self.min_clips}-{self.max_clips} clips)"
            )
        return self


# Whole milliseconds, as VadSettings takes them (250.0 is refused there too).
Milliseconds = Annotated[int, Field(ge=0, strict=True)]


class VadSection(Section):
    """Silero VAD's settings, as :class:`peft_pipelines.speech.vad.VadSettings` takes them."""

    threshold: Annotated[float, Field(gt=0, lt=1)] = DEFAULT_VAD.threshold
    min_speech_ms: Milliseconds = DEFAULT_VAD.min_speech_ms
    min_silence_ms: Milliseconds = DEFAULT_VAD.min_silence_ms
    speech_pad_ms: Milliseconds = DEFAULT_VAD.speech_pad_ms


class EvaluationSection(Section):
    """The split scored, and the decoding settings that make :class:`DecodingOptions` (its defaults).

    These checks are the ones a parameters file meets, before a run, each
    problem named by its setting; ``DecodingOptions``' own check of the same
    ranges guards settings given in code (a command-line flag), which never
    pass through here.
    """

    split: str = "test"
    batch_size: Count = DecodingOptions.batch_size
    max_new_tokens: Count = DecodingOptions.max_new_tokens
    tokens_per_second: Positive = DecodingOptions.tokens_per_second
    vad: VadSection | None = Field(default_factory=VadSection)  # null: every clip decoded
    max_clips: Count | None = None
    seed: int | None = None
    guard_tolerance: Annotated[float, Field(ge=0, le=1)] = DEFAULT_GUARD_TOLERANCE


class TranscriptParityExportSection(ExportSection):
    """Export settings and how close the export's transcripts must stay (:class:`TranscriptParitySettings`)."""

    max_cer_gap: Annotated[float, Field(ge=0, le=1)] = TranscriptParitySettings.max_cer_gap
    min_identical_share: Annotated[float, Field(ge=0, le=1)] = (
        TranscriptParitySettings.min_identical_share
    )


class WhisperZhParameters(PipelineSection):
    keep_columns: list[str]
    audio: AudioSection
    model: ModelSection
    features: FeaturesSection
    base_model: WhisperBaseModelSection
    export: TranscriptParityExportSection = Field(default_factory=TranscriptParityExportSection)
    long_utterances: LongUtterancesSection
    evaluation: EvaluationSection

    @field_validator("keep_columns")
    @classmethod
    def _keeps_the_columns_read(cls, columns: list[str]) -> list[str]:
        missing = [column for column in READ_COLUMNS if column not in columns]
        if missing:
            raise ValueError(
                f"must include {' and '.join(map(repr, READ_COLUMNS))}, which the data stages "
                f"read (missing: {', '.join(missing)})"
            )
        return columns


def window_problems(pipeline: str, params: dict[str, Any], config: PretrainedConfig) -> list[str]:
    """The training window must fit the model's own (``max_source_positions``: 30 s for every OpenAI Whisper)."""
    seconds = float(params["base_model"]["window_seconds"])
    own = config.max_source_positions / WHISPER_POSITIONS_PER_SECOND
    if not 0 < round(seconds * WHISPER_POSITIONS_PER_SECOND) <= config.max_source_positions:
        return [
            f"{pipeline}.base_model.window_seconds: must be within the model's own window "
            f"of {own:g} s (got {seconds:g})"
        ]
    return []


SCHEMA = PipelineParameters(
    schema=WhisperZhParameters,
    training_arguments=Seq2SeqTrainingArguments,
    model_checks=(window_problems,),
)
