"""Fingerprints of every persisted output, recorded in every run, from which incremental runs choose.

    kedro run --pipelines whisper_zh --runner peft_pipelines.runner.IncrementalRunner
    kedro stale --pipelines whisper_zh          # what that would run, and why

This module imports no Kedro runner: the project's settings register its
hook, and ``kedro.runner`` would configure Kedro's logging (printing to
stdout) in every command that reads the settings, the transcription CLI's
among them.

Each persisted output gets a fingerprint: a hash of the code the node runs
(its function and what that reaches, see :func:`code_fingerprint`), of the
parameters the node reads (only those: its ``params:`` inputs), and of the
fingerprints of its inputs. A raw input (a corpus folder, the
quotes file, a packaged model) is fingerprinted from its catalog entry and the
content of its files, with a cache keyed by path, size and modification time,
so an unchanged folder of many clips is not read again.

Fingerprints are written to ``data/.fingerprints/`` (``PEFT_PIPELINES_FINGERPRINTS``
overrides it) by the :class:`FingerprintRecording` project hook, in every run
whatever its runner, only after the output is saved: a run killed mid-node, or
a node that fails, leaves that node stale. A record also holds the size and
modification time of the output's files: an output deleted or edited by hand
is stale. A record or content cache that cannot be read (truncated, garbage,
the wrong shape) counts as missing, with a warning naming the file.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import logging
import os
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node

from peft_pipelines.io.atomic_files import write_text_atomically
from peft_pipelines.io.data_files import data_files_of, on_disk
from peft_pipelines.io.packaged_files import sha256_of_file, sha256_of_json
from peft_pipelines.project import catalog_filepath

logger = logging.getLogger(__name__)

PACKAGE = "peft_pipelines"
RAW_CACHE = "raw_content_cache.json"
# Module-level values whose repr is their content (a logger's or an object's is not).
CONSTANT_TYPES = (str, bytes, int, float, bool, tuple, list, dict, frozenset, type(None))


def fingerprint_folder() -> Path:
    return Path(os.environ.get("PEFT_PIPELINES_FINGERPRINTS", "data/.fingerprints"))


def _write_json_atomically(path: Path, value: Any) -> None:
    write_text_atomically(path, json.dumps(value, indent=1, sort_keys=True, default=str))


def _read_json(file: Path, is_valid: Callable[[Any], bool], consequence: str) -> Any:
    """The JSON value in ``file`` if ``is_valid`` accepts it; else None, with a warning naming the file.

    These files are the project's own bookkeeping: one cut short by a full
    disk, or edited by hand, must cost a rerun, not stop every run.
    """
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        logger.warning("%s is unreadable (%s): %s", file, error, consequence)
        return None
    if not is_valid(value):
        logger.warning(
            "%s has the wrong shape (a key missing or of another type): %s", file, consequence
        )
        return None
    return value


# ---- code ----


def _unwrapped(function: Any) -> Any:
    while True:
        if hasattr(function, "func") and callable(function.func):  # functools.partial
            function = function.func
        elif hasattr(function, "__wrapped__"):
            function = function.__wrapped__
        else:
            return function


def _package_module(value: Any) -> types.ModuleType | None:
    """The module of this package that ``value`` is, or was defined in; None for any other."""
    module = inspect.getmodule(value)
    return module if module is not None and module.__name__.startswith(PACKAGE) else None


def _package_modules(module: types.ModuleType) -> dict[str, types.ModuleType]:
    """``module`` and every module of this package it uses, transitively, by name.

    A module uses what its namespace holds: the modules and the functions,
    classes and objects it imported.
    """
    seen: dict[str, types.ModuleType] = {}
    todo = [module]
    while todo:
        current = todo.pop()
        if current.__name__ in seen:
            continue
        seen[current.__name__] = current
        for value in vars(current).values():
            used = _package_module(value)
            if used is not None and used.__name__ not in seen:
                todo.append(used)
    return seen


def _names_used(item: Any, source: str) -> set[str]:
    """Every name the source of a function or class refers to (its own local names too: conservative)."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:  # a lambda's line is no statement of its own: take its whole module
        tree = ast.parse(inspect.getsource(inspect.getmodule(item)))
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def code_fingerprint(function: Any) -> dict[str, str]:
    """Hashes of the code a node function runs, read from its source (:mod:`inspect`, :mod:`ast`).

    In the function's own module: its source, and the source of every function,
    class and constant of that module it names (so editing one node leaves
    its neighbours fresh). Beyond it: the whole source file of every module of
    this package it names, transitively (conservative: any edit there
    counts). Third-party code counts through the package versions in reports,
    not here.
    """
    root = _unwrapped(function)
    home = inspect.getmodule(root)
    namespace = vars(home)
    hashes: dict[str, str] = {}
    other_modules: dict[str, types.ModuleType] = {}
    todo = [root]
    while todo:
        item = todo.pop()
        if item.__qualname__ in hashes:
            continue
        source = inspect.getsource(item)
        hashes[item.__qualname__] = _sha(source)
        for name in sorted(_names_used(item, source) & namespace.keys()):
            value = namespace[name]
            owner = _package_module(value)
            if owner is home and (inspect.isfunction(value) or inspect.isclass(value)):
                todo.append(value)
            elif owner is not None:
                other_modules[owner.__name__] = owner
            elif isinstance(value, CONSTANT_TYPES):
                hashes[f"{name}="] = _sha(repr(value))
    reached: dict[str, types.ModuleType] = {}
    for module in other_modules.values():
        reached.update(_package_modules(module))
    for name in sorted(reached):
        file = getattr(reached[name], "__file__", None)
        if file:
            hashes[name] = _sha(Path(file).read_bytes())
    return hashes


# ---- data ----


def data_paths(catalog: Any, name: str) -> list[Path]:
    """The files or folders that hold dataset ``name``'s data, as a load reads it now.

    A dataset of this package says it (``fingerprint_paths()``, see
    :mod:`peft_pipelines.io.data_files`). Any other (kedro-datasets') is
    found where its catalog entry puts it (``filepath`` or ``path``; for a
    versioned one, the folder of all its versions); a dataset a run holds in
    memory in place of its entry (another rank's outputs) has none.
    """
    dataset = catalog.get(name)
    said = data_files_of(dataset)
    if said is not None:
        return said
    if dataset is None or isinstance(dataset, MemoryDataset):
        return []
    configured = catalog_filepath(catalog, name)
    return [configured] if configured is not None else []


def local_path(catalog: Any, name: str) -> Path | None:
    """The file or folder that holds dataset ``name``'s data, if it is on this machine."""
    return next((path for path in data_paths(catalog, name) if path.exists()), None)


def files_signature(path: Path) -> list[tuple[str, int, int]]:
    """(relative name, size, modification time) of every file at ``path``.

    Not the ``cache-*.arrow`` files ``datasets`` may write beside a saved
    dataset when a later stage maps over it: a reader's cache, not the output.
    """
    files = (
        [path]
        if path.is_file()
        else sorted(
            p for p in path.rglob("*") if p.is_file() and not fnmatch(p.name, "cache-*.arrow")
        )
    )
    return [
        (str(f.relative_to(path)) if f != path else f.name, f.stat().st_size, f.stat().st_mtime_ns)
        for f in files
    ]


def _is_cache(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


class ContentCache:
    """SHA-256 of files, remembered by path, size and modification time."""

    def __init__(self, file: Path) -> None:
        self.file = file
        entries = (
            _read_json(file, _is_cache, "the raw inputs' files are hashed again")
            if file.is_file()
            else None
        )
        self.entries: dict[str, str] = entries or {}
        self.changed = entries is None and file.is_file()  # rewrite a broken cache

    def content_hash(self, path: Path) -> str:
        parts = []
        for name, size, mtime in files_signature(path):
            file = path / name if path.is_dir() else path
            key = f"{file.resolve()}:{size}:{mtime}"
            if key not in self.entries:
                self.entries[key] = sha256_of_file(file)
                self.changed = True
            parts.append((name, self.entries[key]))
        return sha256_of_json(parts)

    def save(self) -> None:
        if self.changed:
            _write_json_atomically(self.file, self.entries)


def _entry_settings(entry: Any) -> Any:
    """A catalog entry as a fingerprint holds it: no ``metadata`` (Kedro-Viz's layer...), which no load reads.

    A path inside the project is made relative to it: Kedro's context makes
    the catalog's paths absolute, a catalog built from the configuration
    alone (``kedro stale``) does not, and a copied project has other ones.
    """
    if isinstance(entry, dict):
        return {key: _entry_settings(value) for key, value in entry.items() if key != "metadata"}
    if isinstance(entry, list | tuple):
        return [_entry_settings(value) for value in entry]
    if isinstance(entry, str) and os.path.isabs(entry) and Path(entry).is_relative_to(Path.cwd()):
        return Path(entry).relative_to(Path.cwd()).as_posix()
    return entry


def raw_fingerprint(catalog: Any, name: str, cache: ContentCache) -> str:
    """A raw input: its type, its catalog entry, and the content of the files that hold its data.

    A dataset built from other files (a converted model) names those (see
    :func:`data_paths`); its settings, the files' hashes among them, are in
    its entry.
    """
    dataset = on_disk(catalog.get(name))
    entry = catalog.config_resolver.resolve_pattern(name)
    content = [cache.content_hash(p) for p in data_paths(catalog, name) if p.exists()]
    return sha256_of_json(
        {"type": type(dataset).__name__, "entry": _entry_settings(entry), "content": content}
    )


# ---- planning ----


@dataclass
class Plan:
    """Per node: its fingerprint parts, whether it is fresh, and why not."""

    parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # dataset -> fingerprint
    stale: dict[str, str] = field(default_factory=dict)  # node name -> reason
    fresh: list[str] = field(default_factory=list)


def _record_file(name: str) -> Path:
    return fingerprint_folder() / f"{name}.json"


def _is_record(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("fingerprint"), str)
        and isinstance(value.get("files"), str)
        and isinstance(value.get("parts"), dict)
        and all(isinstance(value["parts"].get(kind, {}), dict) for kind in ("params", "inputs"))
    )


def read_record(output: str) -> dict[str, Any] | None:
    """The fingerprint record of dataset ``output``; None if it has none or it cannot be read."""
    file = _record_file(output)
    if not file.is_file():
        return None
    return _read_json(file, _is_record, f"{output} counts as having no fingerprint")


def _recorded_fingerprint(name: str, catalog: Any) -> str | None:
    """The fingerprint a run recorded for ``name``, if its files are still as that run saved them.

    An output of a node that this pipeline leaves out (``--tags report``,
    ``--from-nodes``) keeps the fingerprint its producer gave it, so nodes
    run from it record what a whole-pipeline plan computes for them.
    """
    record = read_record(name)
    if record is None or (path := local_path(catalog, name)) is None:
        return None
    if sha256_of_json(files_signature(path)) != record["files"]:
        return None  # changed since: hashed by content, as a raw input
    return record["fingerprint"]


def _why_different(old: dict[str, Any], new: dict[str, Any], node: Node) -> str:
    if old.get("code") != new["code"]:
        return f"the code of {node.func.__name__ if hasattr(node.func, '__name__') else node.name} changed"
    for kind, label in (("params", "parameter"), ("inputs", "input")):
        for name, value in new[kind].items():
            if old.get(kind, {}).get(name) != value:
                return f"{label} {name} changed"
    return "its fingerprint changed"


def _node_parts(
    node: Node,
    catalog: Any,
    plan: Plan,
    *,
    produced: dict[str, Node],
    raw: dict[str, str],
    cache: ContentCache,
) -> dict[str, Any]:
    inputs = {}
    for name in node.inputs:
        if name.startswith("params:"):
            continue
        if name not in produced and name not in raw:
            raw[name] = _recorded_fingerprint(name, catalog) or raw_fingerprint(
                catalog, name, cache
            )
        inputs[name] = plan.outputs[name] if name in produced else raw[name]
    return {
        "code": sha256_of_json(code_fingerprint(node.func)),
        "params": {
            name: sha256_of_json(catalog.load(name))
            for name in node.inputs
            if name.startswith("params:")
        },
        "inputs": inputs,
    }


def _stale_reason(node: Node, parts: dict[str, Any], plan: Plan, catalog: Any) -> str | None:
    for output in node.outputs:
        record = read_record(output)
        path = local_path(catalog, output)
        if record is None:
            return f"{output} has no fingerprint"
        if record["fingerprint"] != plan.outputs[output]:
            return _why_different(record["parts"], parts, node)
        if path is None or not catalog.exists(output):
            return f"{output} is missing"
        if sha256_of_json(files_signature(path)) != record["files"]:
            return f"{output} was changed after it was saved"
    return None


def plan_run(pipeline: Pipeline, catalog: Any) -> Plan:
    """Which nodes of ``pipeline`` are fresh, which must run, and why."""
    plan = Plan()
    cache = ContentCache(fingerprint_folder() / RAW_CACHE)
    produced = {output: node for node in pipeline.nodes for output in node.outputs}
    raw: dict[str, str] = {}
    for node in pipeline.nodes:  # topological order
        parts = _node_parts(node, catalog, plan, produced=produced, raw=raw, cache=cache)
        plan.parts[node.name] = parts
        fingerprint = sha256_of_json(parts)
        for output in node.outputs:
            plan.outputs[output] = sha256_of_json([fingerprint, output])
        upstream = sorted(
            produced[name].name
            for name in node.inputs
            if name in produced and produced[name].name in plan.stale
        )
        reason = (
            f"upstream {upstream[0]} runs"
            if upstream
            else _stale_reason(node, parts, plan, catalog)
        )
        if reason:
            plan.stale[node.name] = reason
        else:
            plan.fresh.append(node.name)
    cache.save()
    return plan


class FingerprintRecording:
    """Project hook: in every run, whatever its runner, each output's fingerprint once it is saved.

    The plan is made in ``before_pipeline_run``, before any node runs, from
    the pipeline and catalog of the run; a record is written only after the
    catalog has saved its output, so a node that fails or a run killed
    mid-save records nothing. :class:`IncrementalRunner` uses this plan to
    choose what to run: one plan, one record per save.
    """

    def __init__(self) -> None:
        self._run: tuple[Pipeline, Any, Plan] | None = None

    @hook_impl
    def before_pipeline_run(self, pipeline: Pipeline, catalog: Any) -> None:
        self._run = None
        self.plan_for(pipeline, catalog)

    def plan_for(self, pipeline: Pipeline, catalog: Any) -> Plan:
        """The plan of this run of ``pipeline`` on ``catalog``, made once."""
        if self._run is None or self._run[0] is not pipeline or self._run[1] is not catalog:
            self._run = (pipeline, catalog, plan_run(pipeline, catalog))
        return self._run[2]

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node: Node) -> None:
        if self._run is None or dataset_name not in self._run[2].outputs:
            return
        _, catalog, plan = self._run
        path = local_path(catalog, dataset_name)
        if path is None:
            return  # not persisted: nothing to find fresh later
        _write_json_atomically(
            _record_file(dataset_name),
            {
                "fingerprint": plan.outputs[dataset_name],
                "parts": plan.parts[node.name],
                "files": sha256_of_json(files_signature(path)),
            },
        )

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._run = None

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._run = None
