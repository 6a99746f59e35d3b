"""Project pipelines."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any

from kedro.pipeline import Pipeline

from peft_pipelines import pipelines as pipeline_packages
from peft_pipelines.errors import ConfigurationError
from peft_pipelines.project import Project

logger = logging.getLogger(__name__)


def pipeline_modules() -> dict[str, ModuleType]:
    """``pipelines/<name>/pipeline.py`` of every pipeline package, by name.

    Kedro's ``find_pipelines`` would do this, but when ``kedro run --pipelines``
    names a lab it looks for a package of the lab's name and fails.
    """
    return {
        package.name: importlib.import_module(
            f"{pipeline_packages.__name__}.{package.name}.pipeline"
        )
        for package in pkgutil.iter_modules(pipeline_packages.__path__)
        if package.ispkg
    }


def lab_variants(parameters: dict[str, Any], labs: list[str]) -> dict[str, list[str]]:
    """The variant names of each lab: ``peft_lab.<pipeline>.variants``, or those of them ``only`` lists."""
    lab = parameters.get("peft_lab") or {}
    names = {}
    for pipeline in labs:
        settings = lab.get(pipeline) or {}
        variants = settings.get("variants") or {}
        if not isinstance(variants, dict):
            raise ConfigurationError(
                f"peft_lab.{pipeline}.variants: must be a mapping of variant names to their changes"
            )
        only = settings.get("only")
        unknown = sorted(set(only or []) - set(variants))
        if unknown:
            raise ConfigurationError(
                f"peft_lab.{pipeline}.only: {unknown[0]!r} is no variant of "
                f"peft_lab.{pipeline}.variants ({', '.join(variants)})"
            )
        names[pipeline] = [name for name in variants if only is None or name in only]
    return names


def register_pipelines() -> dict[str, Pipeline]:
    """Register every pipeline under ``pipelines/`` by its folder name, and the PEFT labs.

    ``__default__`` is the sum of the pipelines, so a plain ``kedro run`` runs
    every pipeline, and no lab. A lab, ``<pipeline>_lab``, has one copy of the
    model stages per variant of conf/*/parameters_peft_lab.yml: the variants'
    names are read here, from the project's configuration in the working
    directory (conf/base and conf/local, or ``$KEDRO_ENV``'s), because Kedro
    builds its pipelines before it reads ``--env``, ``--params`` or
    ``--conf-source`` (docs/lab.md). Their settings are parameters, read by
    the run as usual.
    """
    modules = pipeline_modules()
    pipelines = {name: module.create_pipeline() for name, module in modules.items()}
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    labs = [name for name, module in modules.items() if hasattr(module, "create_lab_pipeline")]
    try:
        variants = lab_variants(Project.at(Path.cwd()).parameters, labs)
    except ConfigurationError as error:
        logger.warning("The PEFT labs are not registered: %s", error)
        return pipelines
    for pipeline in labs:
        if variants[pipeline]:
            pipelines[f"{pipeline}_lab"] = modules[pipeline].create_lab_pipeline(variants[pipeline])
    return pipelines
