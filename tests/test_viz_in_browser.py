"""Kedro-Viz as a user sees it: the offline static site in headless Chromium.

Builds the site with `python -m peft_pipelines.cli viz-offline` (what `make viz` runs), serves
it on loopback, expands the collapsed namespaces by clicking them, and checks that
node labels of both pipelines are on screen and that no request left the machine.

Needs Debian's `chromium` and `chromium-driver` (CI installs them): skipped with the
reason otherwise. The screenshot goes to $VIZ_SCREENSHOT when set (the README's
`docs/kedro-viz.png` is refreshed that way), else into the test's temporary folder.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from peft_pipelines.viz_site import strip_remote_assets
from tests.browser import (
    left_the_machine,
    needs_chromium,
    requested_urls,
    wait_for,
)
from tests.scratch_project import PROJECT_ROOT, copy_project

# Labels that must be visible once both namespaces are expanded: tasks and datasets.
EXPECTED_LABELS = {
    "whisper_zh": {
        "resample_to_16k",
        "extract_features_and_labels",
        "whisper_zh.features",
        "whisper_zh.base_model_manifest",
        "evaluate_transcription",
    },
    "opt_quotes": {"tokenize_quotes", "evaluate_perplexity", "opt_quotes.base_model_manifest"},
}

# The bands of the lineage, top to bottom: Kedro's data layers in the order the data flows.
LAYERS = ["raw", "intermediate", "primary", "feature", "model_input", "models", "reporting"]
# What a user who turned the feature hints and the minimap off has in localStorage.
VIZ_SETTINGS = {"showFeatureHints": False, "visible": {"miniMap": False}}
# opt_quotes has no model_input dataset.
PIPELINE_LAYERS = {
    "__default__": LAYERS,
    "whisper_zh": LAYERS,
    "opt_quotes": [layer for layer in LAYERS if layer != "model_input"],
}


def test_strip_remote_assets_removes_only_off_machine_tags(tmp_path: Path) -> None:
    index = tmp_path / "index.html"
    index.write_text(
        '<head><link rel="shortcut icon" href="./favicon.ico" />\n'
        '<link rel="preconnect" href="https://fonts.example.com" crossorigin />\n'
        '<link href="//cdn.example.com/a.css" rel="stylesheet">\n'
        '<script src="https://cdn.example.com/t.js"></script>\n'
        '<script type="module" src="./assets/index.js"></script></head>'
    )
    removed = strip_remote_assets(index)
    html = index.read_text()
    assert len(removed) == 3
    assert "example.com" not in html
    assert "./favicon.ico" in html and "./assets/index.js" in html


def _lineage_graph(pipeline, catalog) -> tuple[dict, dict]:
    """Kedro-Viz's graph of ``pipeline``: every task and dataset with its layer, and its edges."""
    nodes, children = {}, defaultdict(set)
    for node in pipeline.nodes:
        nodes[node.name] = SimpleNamespace(layer=None)
        for name in node.inputs:
            children[name].add(node.name)
        for name in node.outputs:
            children[node.name].add(name)
    for name in pipeline.datasets():
        is_parameter = name == "parameters" or name.startswith("params:")
        # Kedro-Viz reads the layer from the dataset object's metadata, as here.
        metadata = None if is_parameter else getattr(catalog.get(name), "metadata", None)
        nodes[name] = SimpleNamespace(layer=((metadata or {}).get("kedro-viz") or {}).get("layer"))
    return nodes, children


@pytest.mark.parametrize("env", [None, "full", "hub"])
def test_the_catalog_layers_form_no_cycle_in_any_registered_pipeline(env, caplog) -> None:
    # Kedro-Viz's own sort (what `kedro viz build` runs): on a cycle it logs a warning and
    # returns no layers, and the lineage shows no bands.
    from kedro.framework.project import pipelines  # noqa: PLC0415 (kedro is slow to import)
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415
    from kedro_viz.services.layers import sort_layers  # noqa: PLC0415

    from peft_pipelines.project import Project  # noqa: PLC0415

    bootstrap_project(PROJECT_ROOT)
    catalog = Project.at(PROJECT_ROOT, env=env).catalog
    for name, wanted in PIPELINE_LAYERS.items():
        assert sort_layers(*_lineage_graph(pipelines[name], catalog)) == wanted, name
    assert "circular dependency" not in caplog.text


@pytest.fixture(scope="module")
def viz_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The offline site built in a copy of the project, and what the build logged."""
    project = copy_project(tmp_path_factory.mktemp("viz_project"))
    build = subprocess.run(
        [sys.executable, "-m", "peft_pipelines.cli", "viz-offline", "--project-dir", str(project)],
        check=False,  # the assertion below shows the log
        capture_output=True,
        text=True,
        # Rich wraps its log lines at the terminal's width; one line per message here.
        env={**os.environ, "COLUMNS": "400"},
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return project / "build", build.stdout + build.stderr


@pytest.fixture(scope="module")
def viz_site(viz_build: tuple[Path, str]) -> Path:
    return viz_build[0]


def test_the_built_lineage_has_its_layer_bands_and_no_layer_cycle(viz_build) -> None:
    site, log = viz_build
    assert "circular dependency" not in log.lower(), log
    assert json.loads((site / "api" / "main").read_text())["layers"] == LAYERS


def test_the_lineage_shows_the_base_model_manifest_feeding_the_model_stages(viz_site: Path):
    graph = json.loads((viz_site / "api" / "main").read_text())
    names = {node["id"]: node.get("full_name") or node["name"] for node in graph["nodes"]}
    for pipeline, readers in {
        "whisper_zh": {"add_peft_adapter", "train_adapter", "evaluate_transcription"},
        "opt_quotes": {
            "add_peft_adapter",
            "train_adapter",
            "evaluate_perplexity",
            "generate_samples",
        },
    }.items():
        manifest = f"{pipeline}.base_model_manifest"
        fed = {
            names[edge["target"]]
            for edge in graph["edges"]
            if names.get(edge["source"]) == manifest
        }
        assert {f"{pipeline}.{reader}" for reader in readers} <= fed, (pipeline, fed)
        writers = {names[e["source"]] for e in graph["edges"] if names.get(e["target"]) == manifest}
        assert writers == {f"{pipeline}.describe_base_model"}


@pytest.fixture(scope="module")
def site_url(viz_site: Path):
    handler = functools.partial(_QuietHandler, directory=str(viz_site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass


def _visible_labels(driver) -> set[str]:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    return {
        element.text
        for element in driver.find_elements(By.CSS_SELECTOR, ".pipeline-node__text")
        if element.is_displayed() and element.text
    }


@needs_chromium
def test_viz_shows_both_pipelines_expanded_and_stays_on_the_machine(
    browser, site_url: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    # Kedro-Viz keeps its settings in the page's localStorage: the first-visit tour of new
    # features (and the "revisit these hints" note that closing it leaves) off, and the
    # minimap, which covers the lowest layer's label, hidden, as a returning user may have set.
    # Stored before the page's own scripts run: set after a first load, the app's first save
    # of its state could overwrite them.
    browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {"source": f"localStorage.setItem('KedroViz', {json.dumps(json.dumps(VIZ_SETTINGS))});"},
    )
    browser.get(site_url)
    collapsed = ".pipeline-node--modularPipeline"
    # Until every collapsed node has its label drawn: nodes appear before their text.
    namespaces = wait_for(
        lambda: (
            (texts := {e.text for e in browser.find_elements(By.CSS_SELECTOR, collapsed)})
            and "" not in texts
            and texts
        )
    )
    assert namespaces == {"whisper_zh", "opt_quotes"}, namespaces

    # A user clicks each collapsed namespace to open it (whisper_zh holds one more, the shared
    # audio_features sub-pipeline); the graph re-lays out each time.
    for _ in range(10):
        nodes = browser.find_elements(By.CSS_SELECTOR, collapsed)
        if not nodes:
            break
        # A dispatched click: the layout animation can leave the node under another
        # element for a moment, which a WebDriver click refuses.
        browser.execute_script(
            "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", nodes[0]
        )
        before = len(nodes)
        wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, collapsed)) < before)  # noqa: B023
    assert not browser.find_elements(By.CSS_SELECTOR, collapsed), "a namespace stayed collapsed"

    expected = set().union(*EXPECTED_LABELS.values())
    labels = wait_for(lambda: (found := _visible_labels(browser)) >= expected and found) or (
        _visible_labels(browser)
    )
    for pipeline, wanted in EXPECTED_LABELS.items():
        assert wanted <= labels, f"{pipeline}: missing {sorted(wanted - labels)}"

    hints = [
        e for e in browser.find_elements(By.CSS_SELECTOR, ".feature-hints") if e.is_displayed()
    ]
    assert not hints, "the feature-hints pop-up would cover the picture"
    bands = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".pipeline-layer-name")}
    assert bands >= set(LAYERS), f"layer bands on screen: {sorted(bands)}"
    time.sleep(1.0)
    screenshot = Path(os.environ.get("VIZ_SCREENSHOT", tmp_path / "kedro-viz.png"))
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 20_000

    urls = requested_urls(browser)
    assert any(url.startswith(site_url) for url in urls), "the network log saw no page request"
    off_machine = [url for url in urls if left_the_machine(url)]
    assert not off_machine, f"requests left loopback: {off_machine}"
