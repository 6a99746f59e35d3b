"""This project as a library: its configuration and catalog for an environment, as ``kedro run`` reads them.

The commands (:mod:`peft_pipelines.cli`), the web demo and the tracking hook
all come in here, so that each finds a dataset, a parameter or the MLflow
store where a run put it:

    project = Project.at(Path.cwd(), env="full")
    project.parameters["whisper_zh"]["model"]["language"]
    project.catalog.load("whisper_zh.metrics")
    project.tracking_uri
    project.decoding_options()  # how whisper_zh decodes: the CLI, the demo, the evaluation

It also silences the libraries' noise for a command's output
(:func:`quiet_libraries`) and says how a path is shown (:func:`shown_path`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from peft_pipelines.speech.decoding import DecodingOptions

from peft_pipelines.errors import ConfigurationError

CONF_FOLDER = "conf"
# Kedro's settings.py hands these to its OmegaConfigLoader; Project uses the same.
CONFIG_LOADER_ARGS: dict[str, Any] = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft", "mlflow": "soft"},
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"]},
}
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
SQLITE_PREFIX = "sqlite:///"
NOISY_LIBRARIES = ("transformers", "bitsandbytes", "peft", "accelerate", "torch")


class Project:
    """The configuration of one project folder in one environment (``None``: conf/local over conf/base)."""

    def __init__(
        self,
        path: Path,
        env: str | None = None,
        runtime_params: Mapping[str, Any] | None = None,
        conf_source: str | Path | None = None,
    ) -> None:
        from kedro.config import OmegaConfigLoader  # noqa: PLC0415 (kedro is slow to import)

        self.path = Path(path).absolute()
        self.env = env
        conf = Path(conf_source) if conf_source else self.path / CONF_FOLDER
        self.config_loader = OmegaConfigLoader(
            conf_source=str(conf),
            env=env,
            runtime_params=dict(runtime_params or {}),
            **CONFIG_LOADER_ARGS,
        )

    @classmethod
    def at(cls, path: Path | None = None, env: str | None = None, **options: Any) -> Project:
        """The project in folder ``path`` (default: the working directory), as ``kedro run`` finds it.

        ``env`` None is ``$KEDRO_ENV`` when that is set, as for ``kedro run``.
        """
        return cls(path or Path.cwd(), env or os.environ.get("KEDRO_ENV"), **options)

    def _required(self, key: str) -> Any:
        """The ``key`` configuration (parameters, catalog); :class:`ConfigurationError` (one line) if there is none."""
        from kedro.config import MissingConfigException  # noqa: PLC0415

        try:
            return self.config_loader[key]
        except MissingConfigException:
            raise ConfigurationError(
                f"no configuration at {shown_path(self.config_loader.conf_source)}: run from the "
                "project's root folder (--conf-source or --project-dir: point at another)"
            ) from None

    @functools.cached_property
    def parameters(self) -> dict[str, Any]:
        return dict(self._required("parameters"))

    @functools.cached_property
    def catalog(self) -> Any:
        """The data catalog, with ``params:<key>`` entries as ``kedro run`` gives its nodes."""
        from kedro.io import DataCatalog  # noqa: PLC0415

        catalog = DataCatalog.from_config(
            self._required("catalog"), credentials=self._optional_config("credentials")
        )
        catalog["parameters"] = self.parameters
        for key, value in _parameter_entries(self.parameters):
            catalog[f"params:{key}"] = value
        return catalog

    @functools.cached_property
    def mlflow_settings(self) -> dict[str, Any]:
        """conf/*/mlflow.yml (empty if there is none)."""
        return self._optional_config("mlflow")

    @property
    def tracking_uri(self) -> str:
        return tracking_uri(self.mlflow_settings, self.path)

    def decoding_options(self) -> DecodingOptions:
        """How ``whisper_zh`` decodes, as its evaluation node does: ``params:whisper_zh.model`` and ``.evaluation``.

        The transcribe command and the demo decode with these, a command-line
        flag overriding a field.
        """
        from peft_pipelines.speech.decoding import DecodingOptions  # noqa: PLC0415 (loads torch)

        whisper_zh = self.parameters.get("whisper_zh", {})
        return DecodingOptions.from_parameters(
            whisper_zh.get("model", {}), whisper_zh.get("evaluation", {})
        )

    def _optional_config(self, key: str) -> dict[str, Any]:
        """The configuration files of ``key`` (credentials, mlflow) merged; empty if there are none."""
        from kedro.config import MissingConfigException  # noqa: PLC0415

        try:
            return dict(self.config_loader[key] or {})
        except MissingConfigException:
            return {}


def _parameter_entries(tree: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Every ``a.b.c`` key of a parameters tree with its value, the inner nodes too (as Kedro's context)."""
    entries = []
    for key, value in tree.items():
        name = f"{prefix}{key}"
        entries.append((name, value))
        if isinstance(value, Mapping):
            entries.extend(_parameter_entries(value, f"{name}."))
    return entries


def tracking_uri(mlflow_settings: Mapping[str, Any], project_path: Path) -> str:
    """The MLflow tracking URI of ``mlflow.yml``; a relative SQLite path belongs to the project."""
    uri = str(mlflow_settings.get("tracking_uri", DEFAULT_TRACKING_URI))
    if uri.startswith(SQLITE_PREFIX) and not Path(uri.removeprefix(SQLITE_PREFIX)).is_absolute():
        return SQLITE_PREFIX + str(project_path / uri.removeprefix(SQLITE_PREFIX))
    return uri


def sqlite_store(uri: str) -> Path | None:
    """The file of a tracking store, if it is SQLite."""
    return Path(uri.removeprefix(SQLITE_PREFIX)) if uri.startswith(SQLITE_PREFIX) else None


def unreadable_sqlite_reason(database: Path) -> str | None:
    """Why SQLite cannot read the file ``database`` (garbage, truncated), or None if it can; read only."""
    uri = f"{database.absolute().as_uri()}?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as connection:
            problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
    except sqlite3.OperationalError:
        return None  # locked or not openable: not corruption; MLflow says what it is
    except sqlite3.DatabaseError as error:
        return str(error)
    return None if problems == ["ok"] else problems[0]


def shown_path(path: str | Path) -> str:
    """A path inside the project (run from its root) as a relative one, which reads better; any other as is."""
    absolute = Path(path).absolute()
    return str(absolute.relative_to(Path.cwd()) if absolute.is_relative_to(Path.cwd()) else path)


def quiet_libraries() -> None:
    """Silence warnings and progress bars that mean nothing to someone reading a command's output."""
    warnings.filterwarnings("ignore")
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.ERROR)
    from transformers.utils import logging as transformers_logging  # noqa: PLC0415

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def catalog_filepath(catalog: Any, dataset_name: str) -> Path | None:
    """The ``filepath``/``path`` a catalog entry (or its factory) gives ``dataset_name``, or None.

    Read from the entry's configuration, Kedro's public view of it; for a
    versioned dataset this is the folder that holds its versions.
    """
    config: Any = catalog.config_resolver.resolve_pattern(dataset_name)
    while isinstance(config, Mapping):
        for key in ("filepath", "path"):
            if key in config:
                return Path(str(config[key]))
        config = config.get("dataset")
    return None
