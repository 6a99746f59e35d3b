"""Typed parameter schemas, checked before a run starts: every problem at once, one line each.

Each pipeline declares its parameters as a :class:`PipelineParameters`
(``pipelines/<name>/parameters.py``): pydantic models for the sections that
are its own, and the two sections every fine-tuning pipeline shares, whose keys
are those of the library class that receives them: ``peft`` (the fields of the
PEFT method's config class, ``peft_type`` among the methods peft offers) and
``training`` (the fields of ``TrainingArguments`` or
``Seq2SeqTrainingArguments``, plus the training core's own keys). What can
only be known from the model (its module names, Whisper's window) is checked
on the architecture built on the meta device from the model's config: no
weights are loaded.

A line reads ``<pipeline>.<section>.<key>: <what is wrong> (got <value>)``; an
unknown key gets the closest known one suggested.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Union

from peft import PEFT_TYPE_TO_CONFIG_MAPPING, PromptLearningConfig, get_peft_model
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from torch import nn
from transformers import PretrainedConfig, TrainingArguments

from peft_pipelines.errors import first_line
from peft_pipelines.io.base_model_manifest import DEFAULT_QUANTIZATION, QUANTIZATIONS
from peft_pipelines.training.fitting import CORE_KEYS
from peft_pipelines.training.peft_wrapping import peft_config_from_params, unmatched_targets
from peft_pipelines.training.sizing import model_on_meta

# Counts (batch sizes, steps, clips) and strictly positive amounts, as pydantic checks them.
Count = Annotated[int, Field(ge=1)]
Positive = Annotated[float, Field(gt=0)]
_SHOWN_VALUE_CHARS = 60
_LISTED_KEYS = 12
_LISTED_CHOICES = 8


class Section(BaseModel):
    """A mapping of settings: unknown keys are errors; values are converted as YAML and ``--params`` give them."""

    model_config = ConfigDict(extra="forbid")
    # Said of an unknown key that resembles no known one (None: the known keys are listed).
    unknown_key_hint: ClassVar[str | None] = None


class BaseModelSection(Section):
    """How the base (``<pipeline>.pretrained_model``) is loaded; a pipeline fixes ``architecture``."""

    quantization: Literal[QUANTIZATIONS] = DEFAULT_QUANTIZATION
    gradient_checkpointing: bool = False
    config_overrides: dict[str, Any] | None = None


# CTranslate2's weight types (ctranslate2.get_supported_compute_types lists what a device runs).
CTranslate2Quantization = Literal[
    "int8",
    "int8_float32",
    "int8_float16",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
]


class ExportSection(Section):
    """The export stages' settings (:class:`peft_pipelines.training.export.ExportSettings`)."""

    quantization: CTranslate2Quantization = "int8"


class ParityExportSection(ExportSection):
    """Export settings of a pipeline that checks its export against the merged model."""

    max_perplexity_gap: Annotated[float, Field(ge=0)] = 0.03
    compared_tokens: Count = 16


class PipelineSection(Section):
    """A pipeline's whole parameters: its own sections typed, ``peft`` and ``training`` checked by the libraries."""

    base_model: BaseModelSection
    peft: Any  # required; checked by peft_problems
    training: Any  # required; checked by training_schema


ModelCheck = Callable[[str, dict[str, Any], PretrainedConfig], list[str]]


@dataclass(frozen=True)
class PipelineParameters:
    """The schema of one pipeline's parameters (the mapping under its name).

    ``schema`` types its own sections (a :class:`PipelineSection`); ``peft`` and
    ``training`` are checked against peft and ``training_arguments`` (the
    Trainer's arguments class). ``model_checks`` take the parameters and the
    base model's config, for what depends on the model (target modules are
    always checked).
    """

    schema: type[PipelineSection]
    training_arguments: type[TrainingArguments]
    model_checks: tuple[ModelCheck, ...] = field(default=())

    def problems(
        self,
        pipeline: str,
        params: Any,
        model_config: Callable[[], PretrainedConfig | None] = lambda: None,
    ) -> list[str]:
        """One line per problem in ``params``; ``model_config`` gives the base's config, or None if unknown."""
        problems = section_problems(pipeline, self.schema, params)
        if not isinstance(params, dict):
            return problems
        if "peft" in params:
            problems += peft_problems(f"{pipeline}.peft", params["peft"])
        if "training" in params:
            schema = training_schema(self.training_arguments)
            problems += section_problems(f"{pipeline}.training", schema, params["training"])
        # The model checks read the base and PEFT settings: only once those are valid.
        if any(
            line.startswith((f"{pipeline}.base_model", f"{pipeline}.peft")) for line in problems
        ):
            return problems
        config = model_config()
        if config is not None:
            problems += model_problems(pipeline, params, config)
            for check in self.model_checks:
                problems += check(pipeline, params, config)
        return problems


def section_problems(prefix: str, schema: type[Section], values: Any) -> list[str]:
    """One line per setting of ``values`` that ``schema`` rejects, each key named from ``prefix``."""
    try:
        schema.model_validate(values)
    except ValidationError as error:
        by_key: dict[str, list[dict[str, Any]]] = {}
        for detail in error.errors():
            by_key.setdefault(_key_path(schema, detail), []).append(detail)
        return [
            f"{prefix}{key}: {_problem(schema, key, details)}" for key, details in by_key.items()
        ]
    return []


def _key_path(schema: type[Section], detail: dict[str, Any]) -> str:
    """``.key.sub[2]`` from an error's location, less the union members pydantic adds to it."""
    path, model = "", schema
    location = detail["loc"]
    for index, part in enumerate(location):
        last_and_unknown = detail["type"] == "extra_forbidden" and index == len(location) - 1
        if isinstance(part, int):
            path += f"[{part}]"
        elif model is not None and (part in model.model_fields or last_and_unknown):
            path += f".{part}"
            model = (
                _nested_section(model.model_fields[part].annotation)
                if not last_and_unknown
                else None
            )
        else:
            break
    return path


def _nested_section(annotation: Any) -> type[Section] | None:
    candidates = [annotation, *typing.get_args(annotation)]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, Section)), None)


def _section_at(schema: type[Section], key: str) -> type[Section]:
    """The section that holds the last part of ``key`` (``.silence.level``: silence's)."""
    model = schema
    for part in key.strip(".").split(".")[:-1]:
        model = _nested_section(model.model_fields[part.split("[")[0]].annotation) or model
    return model


_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}
_TYPES = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "list": "a list",
    "dict": "a mapping",
    "model": "a mapping",
}


def _problem(schema: type[Section], key: str, details: list[dict[str, Any]]) -> str:
    """What is wrong with one setting, from pydantic's errors about it (several: a union's members)."""
    detail, name = details[0], key.strip(".").split(".")[-1]
    if detail["type"] == "extra_forbidden":
        section = _section_at(schema, key)
        return _unknown_key(name, list(section.model_fields), section.unknown_key_hint)
    if detail["type"] == "missing":
        return "missing: this setting is required"
    annotation = _section_at(schema, key).model_fields[name.split("[")[0]].annotation
    if len(details) > 1:
        return _wrong_type(_describe(annotation), detail.get("input"))
    if detail["type"] == "literal_error":
        return _choice_problem(_literal_values(annotation), detail.get("input"))
    return _single_problem(detail)


def _single_problem(detail: dict[str, Any]) -> str:
    kind, context, value = detail["type"], detail.get("ctx", {}), detail.get("input")
    if kind in _BOUNDS:
        bound, sign = _BOUNDS[kind]
        return f"must be {sign} {context[bound]:g} (got {_shown(value)})"
    if kind.split("_")[0] in _TYPES:
        return _wrong_type(_TYPES[kind.split("_")[0]], value)
    if kind == "value_error":  # raised by a section's own validator, already in words
        return str(detail["msg"]).removeprefix("Value error, ")
    return f"{detail['msg'][0].lower()}{detail['msg'][1:]} (got {_shown(value)})"


def _literal_values(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    return [value for a in typing.get_args(annotation) for value in _literal_values(a)]


def _choice_problem(choices: list[Any], value: Any) -> str:
    """A value that is not among ``choices``: all of them said, or the closest if they are many."""
    if len(choices) <= _LISTED_CHOICES:
        return f"must be one of {', '.join(map(repr, choices))} (got {_shown(value)})"
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    guess = f"; did you mean {close[0]!r}?" if close else ""
    return f"not one of the {len(choices)} choices (got {_shown(value)}){guess}"


def _unknown_key(key: str, known: list[str], hint: str | None) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    if hint is None or len(known) <= _LISTED_KEYS:
        return f"unknown key (known keys: {', '.join(known)})"
    return f"unknown key ({hint})"


def _wrong_type(expected: str, value: Any) -> str:
    return f"must be {expected} (got {_shown(value)})"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[: _SHOWN_VALUE_CHARS - 3] + "..."


def _describe(annotation: Any) -> str:
    """An annotation in words: ``str | list[str] | None`` is "a string or a list or null"."""
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return _describe(arguments[0])
    if origin in {Union, types.UnionType}:
        return " or ".join("null" if a is type(None) else _describe(a) for a in arguments)
    if origin is Literal:
        return "one of " + ", ".join(map(repr, arguments))
    simple = {int: "int", float: "float", bool: "bool", str: "string", list: "list", dict: "dict"}
    return _TYPES.get(simple.get(origin or annotation, ""), getattr(annotation, "__name__", "?"))


def _checkable(annotation: Any) -> Any:
    """A library field's annotation as pydantic checks it; ``Any`` where it names a class of the library.

    An enum becomes its values: transformers and peft take an enum member or its
    value as a string (``eval_strategy: IntervalStrategy | str``), and any other
    string fails in their ``__post_init__``.
    """
    if annotation in {int, float, bool, str, dict, list, type(None)}:
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return Literal[tuple(member.value for member in annotation)]
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return annotation
    if origin in {Union, types.UnionType}:
        if any(isinstance(a, type) and issubclass(a, enum.Enum) for a in arguments):
            arguments = tuple(a for a in arguments if a is not str)
        members = [_checkable(a) for a in arguments]
        return Any if Any in members else Union[tuple(members)]  # noqa: UP007 (built at run time)
    if origin in {list, dict, tuple}:
        members = [_checkable(a) for a in arguments]
        return (
            origin
            if Any in members
            else origin[tuple(members) if origin is not list else members[0]]
        )
    return Any


def _library_section(
    library_class: type,
    bounds: dict[str, dict[str, float]],
    own: dict[str, Any],
    hint: str,
) -> type[Section]:
    """A :class:`Section` of the init fields of ``library_class`` (a dataclass), each optional, plus ``own``.

    null leaves a field at the library's default (an environment removes a
    setting of conf/base that way); ``bounds`` adds ranges (``{"ge": 1}``).
    """
    hints = typing.get_type_hints(library_class)
    fields: dict[str, Any] = {}
    for library_field in dataclasses.fields(library_class):
        if not library_field.init:
            continue
        checkable = _checkable(hints.get(library_field.name, Any))
        if library_field.name in bounds and checkable is not Any:
            checkable = Annotated[checkable, Field(**bounds[library_field.name])]
        fields[library_field.name] = (typing.Optional[checkable], None)  # noqa: UP045 (built at run time)
    fields.update(own)
    schema = create_model(library_class.__name__, __base__=Section, **fields)
    schema.unknown_key_hint = hint
    return schema


TRAINING_BOUNDS = {
    "learning_rate": {"gt": 0},
    "per_device_train_batch_size": {"ge": 1},
    "per_device_eval_batch_size": {"ge": 1},
    "gradient_accumulation_steps": {"ge": 1},
    "eval_accumulation_steps": {"ge": 1},
    "max_steps": {"ge": 1},  # null: train for num_train_epochs
    "num_train_epochs": {"gt": 0},
    "warmup_steps": {"ge": 0},
    "logging_steps": {"gt": 0},
    "eval_steps": {"gt": 0},
    "save_steps": {"gt": 0},
    "save_total_limit": {"ge": 1},
    "dataloader_num_workers": {"ge": 0},
    "weight_decay": {"ge": 0},
}
# The training core's own keys (peft_pipelines.training.fitting.CORE_KEYS) and their types.
TRAINING_CORE_FIELDS: dict[str, Any] = {
    "output_dir": (str, ...),
    "resume": (bool, True),
    "time_budget_minutes": (Positive | None, None),
}


@functools.cache
def training_schema(arguments_class: type[TrainingArguments]) -> type[Section]:
    """The ``training`` section: the fields of ``arguments_class`` and the training core's own keys."""
    hint = f"neither a field of {arguments_class.__name__} nor one of {', '.join(CORE_KEYS)}"
    return _library_section(arguments_class, TRAINING_BOUNDS, TRAINING_CORE_FIELDS, hint)


def peft_methods(task_type: str | None) -> list[str]:
    """The PEFT methods peft offers for a model of ``task_type``.

    Prompt learning needs a task type; without one (Whisper's, whose inputs
    peft's task classes do not pass) only the methods that inject layers work.
    """
    return sorted(
        kind.value
        for kind, config_class in PEFT_TYPE_TO_CONFIG_MAPPING.items()
        if task_type is not None or not issubclass(config_class, PromptLearningConfig)
    )


@functools.cache
def peft_schema(method: str) -> type[Section]:
    """The ``peft`` section of PEFT method ``method``: the fields of its config class."""
    config_class = PEFT_TYPE_TO_CONFIG_MAPPING[method]
    defaults = {f.name: f.default for f in dataclasses.fields(config_class)}
    bounds = {name: {"ge": 0, "lt": 1} for name in defaults if name.endswith("dropout")}
    # A rank counts something for every method whose own default rank is positive
    # (OFT's default is 0: its blocks are then sized by oft_block_size).
    if isinstance(defaults.get("r"), int) and defaults["r"] >= 1:
        bounds["r"] = {"ge": 1}
    return _library_section(config_class, bounds, {}, f"not a field of {config_class.__name__}")


def peft_problems(prefix: str, peft: Any) -> list[str]:
    """The ``peft`` section's problems: the method, its fields, then what its config class itself rejects."""
    if not isinstance(peft, dict):
        return [f"{prefix}: {_wrong_type('a mapping of settings', peft)}"]
    method, task_type = peft.get("peft_type"), peft.get("task_type")
    offered = peft_methods(task_type)
    if method not in offered:
        return [f"{prefix}.peft_type: {_method_problem(method, offered, task_type)}"]
    problems = section_problems(prefix, peft_schema(method), peft)
    if not problems:
        try:
            peft_config_from_params(peft)
        except (ValueError, TypeError) as error:
            problems.append(f"{prefix}: {first_line(error)}")
    return problems


def _method_problem(method: Any, offered: list[str], task_type: str | None) -> str:
    every = peft_methods("any")
    if method in every:
        return f"{method} is a prompt-learning method: it needs a task_type (got {task_type!r})"
    close = difflib.get_close_matches(str(method).upper(), offered, n=1)
    choice = f"did you mean {close[0]!r}?" if close else f"one of {', '.join(offered)}"
    return f"not a PEFT method that peft offers (got {_shown(method)}); {choice}"


def model_problems(pipeline: str, params: dict[str, Any], config: PretrainedConfig) -> list[str]:
    """What the base model itself rejects: target modules that match none of its modules, then peft's own checks.

    The architecture is built from ``config`` on the meta device (no weights,
    no memory) and wrapped as the ``add_peft_adapter`` node will wrap it.
    """
    model = model_on_meta(config, params["base_model"]["architecture"])
    problem = _target_problem(model, params["peft"].get("target_modules"))
    if problem:
        return [f"{pipeline}.peft.target_modules: {problem}"]
    try:
        get_peft_model(model, peft_config_from_params(params["peft"]))
    except (ValueError, TypeError) as error:
        return [f"{pipeline}.peft: {first_line(error)}"]
    return []


def _target_problem(model: nn.Module, targets: str | list[str] | None) -> str | None:
    """Why ``targets`` select nothing, by peft's rule: a string is a regex the whole module name must match,
    a list holds names or name endings (``q_proj`` matches ``...self_attn.q_proj``).

    A list of which only some match is left to the run, which reports the
    unmatched ones (``peft_summary.json``), as peft itself accepts it.
    """
    if targets is None or targets == "all-linear":  # peft resolves these by the architecture
        return None
    names = [name for name, _ in model.named_modules() if name]
    if isinstance(targets, str):
        try:
            pattern = re.compile(targets)
        except re.error as error:
            return f"not a valid regular expression: {error} (got {_shown(targets)})"
        if any(pattern.fullmatch(name) for name in names):
            return None
    elif len(unmatched_targets(model, list(targets))) < len(targets):
        return None
    linear = sorted(
        {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    )
    return (
        f"matches no module of {type(model).__name__} (got {_shown(targets)}); "
        f"its linear layers are named {', '.join(linear)}"
    )
