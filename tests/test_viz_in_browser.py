"""Kedro-Viz as a user sees it: the offline static site in headless Chromium.

Builds the site with `python -m peft_pipelines.cli viz` (what `make viz` runs), serves
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
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from peft_pipelines.viz_site import strip_remote_assets

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

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

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="headless browser test needs Debian's chromium and chromium-driver "
    "(apt-get install chromium chromium-driver; .ci/run installs them)",
)


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


@pytest.fixture(scope="module")
def viz_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import copy_project  # noqa: PLC0415

    project = copy_project(tmp_path_factory.mktemp("viz_project"))
    subprocess.run(
        [sys.executable, "-m", "peft_pipelines.cli", "viz", "--project-dir", str(project)],
        check=True,
    )
    return project / "build"


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


@pytest.fixture
def browser(tmp_path: Path):
    # Selenium Manager would look for (and download) a driver unless told where it is.
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1800,1100",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def _wait_for(condition, timeout: float = 60.0, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def _visible_labels(driver) -> set[str]:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    return {
        element.text
        for element in driver.find_elements(By.CSS_SELECTOR, ".pipeline-node__text")
        if element.is_displayed() and element.text
    }


def _requested_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return urls


def _left_the_machine(url: str) -> bool:
    parts = urlsplit(url)
    # chrome://, data: and blob: URLs are served inside the browser.
    return parts.scheme in {"http", "https", "ws", "wss"} and parts.hostname not in LOOPBACK


@needs_chromium
def test_viz_shows_both_pipelines_expanded_and_stays_on_the_machine(
    browser, site_url: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    browser.get(site_url)
    collapsed = ".pipeline-node--modularPipeline"
    # Until every collapsed node has its label drawn: nodes appear before their text.
    namespaces = _wait_for(
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
        _wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, collapsed)) < before)  # noqa: B023
    assert not browser.find_elements(By.CSS_SELECTOR, collapsed), "a namespace stayed collapsed"

    expected = set().union(*EXPECTED_LABELS.values())
    labels = _wait_for(lambda: (found := _visible_labels(browser)) >= expected and found) or (
        _visible_labels(browser)
    )
    for pipeline, wanted in EXPECTED_LABELS.items():
        assert wanted <= labels, f"{pipeline}: missing {sorted(wanted - labels)}"

    # The first-visit tour covers part of the graph; close it before the picture.
    for close in browser.find_elements(By.CSS_SELECTOR, ".feature-hints__close"):
        if close.is_displayed():
            close.click()
    time.sleep(1.0)
    screenshot = Path(os.environ.get("VIZ_SCREENSHOT", tmp_path / "kedro-viz.png"))
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 20_000

    urls = _requested_urls(browser)
    assert any(url.startswith(site_url) for url in urls), "the network log saw no page request"
    off_machine = [url for url in urls if _left_the_machine(url)]
    assert not off_machine, f"requests left loopback: {off_machine}"
