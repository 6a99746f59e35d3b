"""The base-model manifest as one typed value: which weights a pipeline trains on, and how they load.

The training core's ``describe_base_model`` node makes it; the catalog keeps
it as a small JSON file (``data/06_models/<pipeline>/base_model_manifest.json``,
and a copy beside every adapter); :func:`peft_pipelines.io.model_loading.load_base_model`
turns it back into the prepared model. This module is the one place that
names its fields, their types and their defaults, and the one that decides
how a file names its base folder (relative to the file, inside the project).
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from peft_pipelines.errors import ConfigurationError
from peft_pipelines.io.model_folders import location_as_read, location_as_written

Architecture = Literal["whisper", "causal_lm"]
Quantization = Literal["none", "int8", "nf4"]
QUANTIZATIONS: tuple[Quantization, ...] = typing.get_args(Quantization)
# What the pipelines train in unless their parameters say otherwise (LLM.int8(), as the seed).
DEFAULT_QUANTIZATION: Quantization = "int8"
# The manifest's fields that a pipeline's ``base_model`` parameters set (the rest
# come from the pretrained-model dataset's reference).
LOAD_SETTINGS = (
    "architecture",
    "quantization",
    "gradient_checkpointing",
    "config_overrides",
    "window_seconds",
)


@dataclass(frozen=True)
class BaseModelManifest:
    """Where the base model's weights are and how to load them; checked field by field when made.

    ``name_or_path``: a Hub id or a model folder (absolute in memory; a file
    names a folder of the project relative to itself, see :meth:`written_in`).
    ``revision``: the Hub revision (``None``: the default branch).
    ``architecture``: ``whisper`` | ``causal_lm``.
    ``quantization``: ``none`` | ``int8`` (LLM.int8()) | ``nf4`` (QLoRA's 4 bit).
    ``gradient_checkpointing``: recompute activations in the backward pass.
    ``config_overrides``: set on ``model.config`` (and its generation config) after loading.
    ``window_seconds``: Whisper's encoder input window (``None``: the model's own).
    ``base_model_random``: the weights are random (a test model); ``note`` says what it is.

    Every manifest the training core writes carries every field. A file
    missing one is read with its default here: a missing ``quantization`` is
    :data:`DEFAULT_QUANTIZATION` (``int8``), the pipelines' own default, so a
    hand-written manifest loads the base as a run configured the same way
    would. ``name_or_path`` and ``architecture`` have no default.
    """

    name_or_path: str
    architecture: Architecture
    revision: str | None = None
    quantization: Quantization = DEFAULT_QUANTIZATION
    gradient_checkpointing: bool = False
    config_overrides: dict[str, Any] = field(default_factory=dict)
    window_seconds: float | None = None
    base_model_random: bool = False
    note: str | None = None

    def __post_init__(self) -> None:
        for name in _FIELD_TYPES:
            problem = field_problem(name, getattr(self, name))
            if problem:
                raise ConfigurationError(problem)
        # A copy: the frozen manifest must not change with the mapping it was made from.
        object.__setattr__(self, "config_overrides", copy.deepcopy(self.config_overrides))

    @classmethod
    def from_mapping(cls, mapping: Any) -> BaseModelManifest:
        """The manifest a JSON object describes; raises a one-line :class:`ConfigurationError` if it cannot.

        Unknown fields, a missing ``name_or_path`` or ``architecture`` and
        ill-typed values are refused; missing optional fields take their defaults.
        """
        if not isinstance(mapping, Mapping):
            raise ConfigurationError(
                f"a base-model manifest is a JSON object, not {type(mapping).__name__}"
            )
        if unknown := sorted(str(key) for key in mapping if key not in _FIELD_TYPES):
            raise ConfigurationError(
                f"unknown field {unknown[0]!r} (a manifest has {', '.join(_FIELD_TYPES)})"
            )
        if missing := [name for name in _REQUIRED if name not in mapping]:
            raise ConfigurationError(f"{missing[0]} is missing")
        return cls(**mapping)

    def to_mapping(self) -> dict[str, Any]:
        """The JSON object of the manifest: every field, under its own name."""
        return {name: copy.deepcopy(getattr(self, name)) for name in _FIELD_TYPES}

    def written_in(self, folder: Path) -> BaseModelManifest:
        """The manifest as a file in ``folder`` names its base: a folder of the project relative to ``folder``.

        Hub ids and folders outside the project stay as they are
        (:func:`~peft_pipelines.io.model_folders.location_as_written`).
        """
        return dataclasses.replace(
            self, name_or_path=location_as_written(self.name_or_path, folder)
        )

    def read_in(self, folder: Path) -> BaseModelManifest:
        """The manifest of a file in ``folder``, with the base folder it names relative to ``folder`` made absolute."""
        return dataclasses.replace(self, name_or_path=location_as_read(self.name_or_path, folder))

    def portable(self) -> BaseModelManifest:
        """The manifest with its base folder named relative to the project, as a copy of the project names it.

        The checkpoints' fingerprint holds it: a copied or moved project then
        resumes its checkpoints instead of training again from step 0.
        """
        return self.written_in(Path())


_FIELD_TYPES: dict[str, Any] = typing.get_type_hints(BaseModelManifest)
_REQUIRED = tuple(
    f.name
    for f in dataclasses.fields(BaseModelManifest)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
)


def field_problem(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` as the manifest's field ``name`` (one line), or ``None`` if it fits.

    The line reads ``<name> must be <what>, not <value>``, values as Python
    writes them; the training node puts its parameters' section before it.
    """
    expected = _FIELD_TYPES[name]
    if typing.get_origin(expected) is Literal:
        choices = typing.get_args(expected)
        if value in choices:
            return None
        # Architectures are listed sorted, quantizations in the order of their precision.
        shown = sorted(choices) if name == "architecture" else choices
        return f"{name} must be one of {shown}, not {value!r}"
    if _fits(expected, value):
        return None
    return f"{name} must be {_described(expected)}, not {value!r}"


def _alternatives(annotation: Any) -> tuple[Any, ...]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)


def _fits(annotation: Any, value: Any) -> bool:
    for kind in _alternatives(annotation):
        base = typing.get_origin(kind) or kind
        if base is types.NoneType and value is None:
            return True
        if base is bool and isinstance(value, bool):
            return True
        # A whole number is a number of seconds too, and is kept as written (5, not 5.0).
        if base is float and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if base in {str, dict} and isinstance(value, base):
            return True
    return False


_DESCRIPTIONS = {
    str: "a string",
    bool: "true or false",
    float: "a number",
    dict: "a mapping",
    types.NoneType: "null",
}


def _described(annotation: Any) -> str:
    return " or ".join(
        _DESCRIPTIONS[typing.get_origin(kind) or kind] for kind in _alternatives(annotation)
    )
