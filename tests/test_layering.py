"""The package's imports obey the layering sentence at the top of ``peft_pipelines/__init__.py``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "peft_pipelines"
# A module imports only modules of lower layers, never one of its own layer (within one
# package, e.g. speech/, it may import its own modules): so no import cycle between modules.
LAYERS = {
    "errors": -1,  # the user-mistake family: every layer raises it, data_quality's too
    "data_quality": 0,
    "distributed": 0,
    "io": 1,
    "training": 2,
    "speech": 3,
    "text": 3,
    "plots": 3,
    # The pipelines, and the project as a library (its configuration, catalog, tracking URI).
    "pipelines": 4,
    "project": 4,
    # Built on the project's configuration: fingerprints, parameter schemas, the offline Kedro-Viz.
    "fingerprints": 5,
    "parameter_check": 5,
    "viz_site": 5,
    # What Kedro or a user plugs in over those: hooks, a runner, the web demo's app.
    "hooks": 6,
    "runner": 6,
    "demo": 6,
    # Entry points: Kedro's settings and registry, the commands; none imports another.
    "settings": 7,
    "pipeline_registry": 7,
    "cli": 7,
    "__main__": 7,
}
TOP = max(LAYERS.values())


def _imports() -> list[tuple[tuple[str, ...], list[str]]]:
    """(importing module's path parts, imported module's parts below peft_pipelines), lazy imports too."""
    found = []
    for file in sorted(PACKAGE.rglob("*.py")):
        parts = file.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",):
            continue
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "peft_pipelines":
                found += [(parts, [alias.name]) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "peft_pipelines."
            ):
                found.append((parts, node.module.split(".")[1:]))
            elif isinstance(node, ast.Import):
                found += [
                    (parts, alias.name.split(".")[1:])
                    for alias in node.names
                    if alias.name.startswith("peft_pipelines.")
                ]
    return found


def test_every_module_is_in_a_layer():
    modules = {file.relative_to(PACKAGE).parts[0].removesuffix(".py") for file in PACKAGE.iterdir()}
    assert modules - {"__init__", "__pycache__"} == set(LAYERS)


def test_imports_go_down_the_layers_only_and_no_pipeline_imports_another():
    wrong = []
    for parts, target in _imports():
        me, other = parts[0], target[0]
        if me == other:
            if me == "pipelines" and len(target) > 1 and target[1] != parts[1]:
                wrong.append(f"{'/'.join(parts)} imports pipeline {target[1]}")
            continue
        if LAYERS[other] >= LAYERS[me]:
            wrong.append(f"{'/'.join(parts)} ({me}) imports {'.'.join(target)} ({other})")
    assert not wrong, wrong


def test_no_entry_point_imports_another_and_none_is_imported():
    top = {name for name, layer in LAYERS.items() if layer == TOP}
    assert top == {"settings", "pipeline_registry", "cli", "__main__"}
    wrong = [
        f"{'/'.join(parts)} imports {'.'.join(target)}"
        for parts, target in _imports()
        if target[0] in top and parts[0] != target[0]
    ]
    assert not wrong, wrong


def test_nodes_do_no_file_or_hub_access_of_their_own():
    # The issue's own check: not even the word "path" (file locations come from the catalog).
    pattern = re.compile(r"path|load_dataset|from_pretrained|open\(", re.IGNORECASE)
    for nodes in sorted((PACKAGE / "pipelines").glob("*/nodes.py")):
        hits = [line for line in nodes.read_text().splitlines() if pattern.search(line)]
        assert not hits, (nodes.name, hits)
