"""The web demo as a user sees it: headless Chromium uploads a clip and compares the transcripts.

The app runs as `make demo` runs it, on a free loopback port, over the outputs
of a whisper_zh run with the tiny random-weight test model (DEMO_PROJECT: a
project folder with real runs instead, as the README's screenshot is made).
The screenshot goes to $DEMO_SCREENSHOT when set, else into the test's folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser import left_the_machine, needs_chromium, requested_urls, wait_for
from tests.scratch_project import copy_project, run_pipeline

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory, tiny_whisper_catalog, quick_whisper_run):
    if os.environ.get("DEMO_PROJECT"):
        project = Path(os.environ["DEMO_PROJECT"])
    else:
        project = copy_project(tmp_path_factory.mktemp("demo"), catalog=tiny_whisper_catalog)
        run_pipeline(project, "whisper_zh", quick_whisper_run)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path_factory.mktemp("demo-log") / "demo.log").open("w")
    app = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "peft_pipelines.cli",
            "demo",
            "--port",
            str(port),
            "--project-dir",
            str(project),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"

    def serving() -> bool:
        try:
            return urllib.request.urlopen(url, timeout=5).status == 200
        except OSError:
            return False

    try:
        assert (
            wait_for(lambda: serving() or app.poll() is not None, timeout=300)
            and app.poll() is None
        ), Path(log.name).read_text()[-3000:]
        yield url
    finally:
        app.terminate()
        app.wait(timeout=30)
        log.close()


def _upload(browser, path: Path) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    # Gradio loads each component's code on first use: on a busy machine, allow minutes.
    field = wait_for(
        lambda: browser.find_elements(By.CSS_SELECTOR, "#audio input[type=file]"), timeout=180
    )
    assert field, (
        "no file input in the audio component",
        [
            e.get_attribute("outerHTML")[:150]
            for e in browser.find_elements(By.CSS_SELECTOR, "input")
        ],
        browser.find_element(By.TAG_NAME, "body").text[:500],
    )
    field[0].send_keys(str(path))


def _value(browser, element_id: str) -> str:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    found = browser.find_elements(By.CSS_SELECTOR, f"#{element_id} textarea")
    return found[0].get_attribute("value") if found else ""


def _text(browser, element_id: str) -> str:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    found = browser.find_elements(By.CSS_SELECTOR, f"#{element_id}")
    return found[0].text if found else ""


def _click(browser, element_id: str) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    button = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, f"#{element_id}"))
    browser.execute_script("arguments[0].click()", button[0])


def test_a_clip_is_transcribed_by_both_models_side_by_side_and_nothing_leaves_the_machine(
    browser, demo_url, tmp_path, bundled_corpus
):
    browser.get(demo_url)
    facts = wait_for(lambda: "Test CER" in _text(browser, "adapter-facts"), timeout=60)
    assert facts, _text(browser, "adapter-facts")
    assert "**" not in _text(browser, "adapter-facts")  # rendered, not raw markdown
    assert "Base" in _text(browser, "adapter-facts") and "PEFT" in _text(browser, "adapter-facts")

    clip = sorted((bundled_corpus / "clips").glob("*.mp3"))[0]
    _upload(browser, clip)
    time.sleep(2)  # the component uploads the file before the click may use it
    _click(browser, "transcribe")
    both = wait_for(
        lambda: _value(browser, "base-transcript") and _value(browser, "finetuned-transcript"),
        timeout=300,
    )
    assert both, _text(browser, "speech-status")
    assert "fine-tuned" in _text(browser, "speech-status")  # the times each took
    export_box = browser.find_elements("css selector", "#ctranslate2-transcript textarea")
    if export_box and export_box[0].is_displayed():
        # An adapter with a CTranslate2 export (a DEMO_PROJECT run): its box answers last.
        assert wait_for(lambda: _value(browser, "ctranslate2-transcript"), timeout=300)
    time.sleep(1)
    screenshot = Path(os.environ.get("DEMO_SCREENSHOT", tmp_path / "demo.png"))
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(screenshot))

    notes = tmp_path / "notes.wav"  # a text file, named like audio
    notes.write_text("this is not a recording\n")
    _click(browser, "audio button[aria-label='Clear']")  # the player gives way to the upload box
    _upload(browser, notes)
    time.sleep(2)
    _click(browser, "transcribe")
    message = wait_for(lambda: "not an audio file" in _text(browser, "speech-status"), timeout=60)
    page_error = [e.text for e in browser.find_elements("css selector", ".toast-body, .error")]
    assert message or page_error, (_text(browser, "speech-status"), page_error)
    assert "Traceback" not in browser.page_source

    urls = requested_urls(browser)
    assert any(url.startswith(demo_url) for url in urls), "the network log saw no page request"
    off_machine = [url for url in urls if left_the_machine(url)]
    assert not off_machine, f"requests left loopback: {off_machine}"
