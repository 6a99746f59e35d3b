"""The schema of ``opt_quotes``'s parameters (conf/*/parameters_opt_quotes.yml), checked before a run.

Each section lists the settings the nodes read, with their types and ranges;
``peft`` and ``training`` are checked against peft and ``TrainingArguments``
(:mod:`peft_pipelines.training.parameter_schema`). A new setting goes here too,
or every run stops at it as an unknown key.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from transformers import TrainingArguments

from peft_pipelines.training.parameter_schema import (
    BaseModelSection,
    Count,
    ParityExportSection,
    PipelineParameters,
    PipelineSection,
    Section,
)


class SplitSection(Section):
    heldout_fraction: Annotated[float, Field(gt=0, lt=1)]
    seed: int


class TokenizeSection(Section):
    max_length: Annotated[int, Field(ge=2)]  # a quote of fewer tokens has nothing to predict


class CausalLMBaseModelSection(BaseModelSection):
    architecture: Literal["causal_lm"]


class EvaluationSection(Section):
    batch_size: Count = 8
    seed: int | None = None
    curve_quotes: Count | None = None


class GenerationSection(Section):
    max_new_tokens: Count = 48
    prompts: Annotated[list[str], Field(min_length=1)]


class OptQuotesParameters(PipelineSection):
    split: SplitSection
    tokenize: TokenizeSection
    base_model: CausalLMBaseModelSection
    export: ParityExportSection = Field(default_factory=ParityExportSection)
    evaluation: EvaluationSection
    generation: GenerationSection


SCHEMA = PipelineParameters(schema=OptQuotesParameters, training_arguments=TrainingArguments)
