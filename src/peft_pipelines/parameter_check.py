"""The project hook that checks every pipeline's parameters before a run: all problems at once, one line each.

Each pipeline's schema is ``SCHEMA`` in ``pipelines/<name>/parameters.py``,
found by the pipeline's name as Kedro's ``find_pipelines`` finds its
``create_pipeline``: no pipeline imports another, and this hook imports none.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import logging
import re
from collections.abc import Callable, Generator
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, DatasetError
from kedro.pipeline import Pipeline
from transformers import PretrainedConfig

from peft_pipelines.errors import ConfigurationError, first_line
from peft_pipelines.training.lab import variant_settings
from peft_pipelines.training.parameter_schema import PipelineParameters, peft_problems

logger = logging.getLogger(__name__)

PIPELINES_PACKAGE = f"{__package__}.pipelines"
# A lab variant's own parameters, as its settings node reads them.
LAB_VARIANT = re.compile(r"params:peft_lab\.(\w+)\.variants\.(\w+)")


class ParameterCheck:
    """Stops a run whose parameters cannot work before anything else happens, saying every problem.

    The parameters a run sees (conf/ with ``--params`` merged in) are checked
    for each pipeline the run reads parameters of (``params:<pipeline>.*``):
    unknown keys (with the closest known one), types, ranges, choices, and,
    when the catalog's ``<pipeline>.pretrained_model`` gives its config without
    loading weights, what depends on the model (target modules, Whisper's
    window). Problems raise :class:`~peft_pipelines.errors.ConfigurationError`,
    one line each, before any lock is taken, tracking run opened, checkpoint
    moved or node run.
    """

    # A wrapper runs before every plain implementation of the hook, whatever the
    # order the hooks were registered in or their tryfirst marks.
    @hook_impl(wrapper=True)
    def before_pipeline_run(self, pipeline: Pipeline, catalog: DataCatalog) -> Generator:
        problems = parameter_problems(pipeline, catalog)
        if problems:
            raise ConfigurationError("\n".join(problems))
        return (yield)


def parameter_problems(pipeline: Pipeline, catalog: DataCatalog) -> list[str]:
    """One line per problem in the parameters of every pipeline that ``pipeline`` reads parameters of."""
    names = sorted(
        {
            name.removeprefix("params:").split(".")[0]
            for name in pipeline.inputs()
            if name.startswith("params:")
        }
    )
    parameters: dict[str, Any] = catalog.load("parameters") or {}
    problems = [
        f"{key}: unknown key; did you mean {close[0]!r}?"
        for key in parameters
        if key not in names and (close := difflib.get_close_matches(key, names, n=1, cutoff=0.8))
    ]
    for name in names:
        schema = pipeline_schema(name)
        if schema is not None:
            problems += schema.problems(name, parameters.get(name), _model_config(catalog, name))
    return problems + lab_problems(pipeline, parameters)


def lab_problems(pipeline: Pipeline, parameters: dict[str, Any]) -> list[str]:
    """One line per problem in the PEFT settings of each lab variant the pipeline trains.

    Each variant's settings are resolved as its ``resolve_variant_settings``
    node will resolve them, then checked as a pipeline's ``peft`` section is.
    """
    lab = parameters.get("peft_lab") or {}
    problems = []
    for name in sorted(pipeline.inputs()):
        if not (match := LAB_VARIANT.fullmatch(name)):
            continue
        owner, variant = match[1], match[2]
        own = parameters.get(owner) or {}
        try:
            peft, _ = variant_settings(
                dict(own.get("peft") or {}),
                dict(own.get("training") or {}),
                dict(own.get("base_model") or {}),
                ((lab.get(owner) or {}).get("variants") or {}).get(variant),
                lab.get("max_steps"),
                str(lab.get("checkpoints")),
                pipeline=owner,
                name=variant,
            )
        except ConfigurationError as error:
            problems.append(str(error))
            continue
        problems += peft_problems(f"peft_lab.{owner}.variants.{variant}.peft", peft)
    return problems


def pipeline_schema(name: str) -> PipelineParameters | None:
    """``SCHEMA`` of ``pipelines/<name>/parameters.py``; None if ``name`` is no pipeline of the package."""
    package = f"{PIPELINES_PACKAGE}.{name}"
    if importlib.util.find_spec(package) is None:
        return None
    if importlib.util.find_spec(f"{package}.parameters") is None:
        return None
    return importlib.import_module(f"{package}.parameters").SCHEMA


def _model_config(catalog: DataCatalog, name: str) -> Callable[[], PretrainedConfig | None]:
    """Reads the config of the catalog's ``<name>.pretrained_model``, if it can without weights or a download.

    A packaged base is converted on the first run only: until then its config
    is unknown, and the checks that need it are left to the model stages.
    """

    def read() -> PretrainedConfig | None:
        dataset = catalog.get(f"{name}.pretrained_model")
        load_config = getattr(dataset, "load_config", None)
        if load_config is None:
            return None
        try:
            return load_config()
        except (DatasetError, OSError, ValueError) as error:
            logger.info(
                "%s.pretrained_model: its config is not known before the run (%s); "
                "target modules are checked when the model loads",
                name,
                first_line(error),
            )
            return None

    return read
