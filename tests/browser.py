"""Headless Chromium for the browser tests: Debian's chromium and chromium-driver, no download.

The ``browser`` fixture (tests/conftest.py) starts it; these are the helpers the tests use.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="headless browser test needs Debian's chromium and chromium-driver "
    "(apt-get install chromium chromium-driver; .ci/run installs them)",
)


def wait_for(condition, timeout: float = 60.0, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def requested_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return urls


def left_the_machine(url: str) -> bool:
    parts = urlsplit(url)
    # chrome://, data: and blob: URLs are served inside the browser.
    return parts.scheme in {"http", "https", "ws", "wss"} and parts.hostname not in LOOPBACK
