"""The package's imports obey the layering sentence at the top of ``peft_pipelines/__init__.py``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "peft_pipelines"
# A module imports only modules of lower layers; within a layer, only its own package
# (and nothing in the top layer imports a sibling top-layer module).
LAYERS = {
    "errors": -1,  # the user-mistake family: every layer raises it, data_quality's too
    "data_quality": 0,
    "distributed": 0,
    "io": 1,
    "training": 2,
    "speech": 3,
    "text": 3,
    "plots": 3,
    "pipelines": 4,
    "project": 4,  # this project as a library: configuration, catalog, tracking URI
    # Kedro extensions and the web demo's app: used by the entry points, never each other.
    "hooks": 5,
    "parameter_check": 5,
    "fingerprints": 5,
    "viz_site": 5,
    "demo": 5,
    # Entry points: what Kedro, the console scripts and python -m start.
    "runner": 6,
    "settings": 6,
    "cli": 6,
    "pipeline_registry": 6,
    "__main__": 6,
}
TOP = 6


def _imports() -> list[tuple[tuple[str, ...], list[str]]]:
    found = []
    for file in sorted(PACKAGE.rglob("*.py")):
        parts = file.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",):
            continue
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "peft_pipelines."
            ):
                found.append((parts, node.module.split(".")[1:]))
    return found


def test_every_module_is_in_a_layer():
    assert {parts[0] for parts, _ in _imports()} <= set(LAYERS)


def test_imports_go_down_the_layers_only_and_no_pipeline_imports_another():
    wrong = []
    for parts, target in _imports():
        me, other = parts[0], target[0]
        if me == other:
            if me == "pipelines" and target[1] != parts[1]:
                wrong.append(f"{'/'.join(parts)} imports pipeline {target[1]}")
            continue
        if LAYERS[other] >= LAYERS[me]:
            wrong.append(f"{'/'.join(parts)} ({me}) imports {'.'.join(target)} ({other})")
    assert not wrong, wrong


def test_nodes_do_no_file_or_hub_access_of_their_own():
    # The issue's own check: not even the word "path" (file locations come from the catalog).
    pattern = re.compile(r"path|load_dataset|from_pretrained|open\(", re.IGNORECASE)
    for nodes in sorted((PACKAGE / "pipelines").glob("*/nodes.py")):
        hits = [line for line in nodes.read_text().splitlines() if pattern.search(line)]
        assert not hits, (nodes.name, hits)
