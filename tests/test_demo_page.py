"""The demo's page as a link preview sees it: our title and description, nothing named on another host."""

from __future__ import annotations

import socket
import urllib.request
from html.parser import HTMLParser
from urllib.parse import urlparse

import pytest

from peft_pipelines.demo import PAGE_DESCRIPTION, PAGE_TITLE, build_app, launch
from tests.scratch_project import copy_project

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class _Head(HTMLParser):
    """The page's <meta> tags (as attribute dicts) and its <title>."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: list[dict[str, str]] = []
        self.title, self._in_title = "", False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            self.meta.append({key: value or "" for key, value in attrs})
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag: str) -> None:  # noqa: ARG002 (HTMLParser's signature)
        self._in_title = False


@pytest.fixture(scope="module")
def served_page(tmp_path_factory) -> str:
    project = copy_project(tmp_path_factory.mktemp("project"))
    app = build_app(project)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    launch(app, "127.0.0.1", port, block=False)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as response:
            return response.read().decode("utf-8")
    finally:
        app.close()


def test_the_page_names_our_title_and_description_and_no_image(served_page):
    head = _Head()
    head.feed(served_page)
    content = {m.get("property") or m.get("name"): m.get("content") for m in head.meta}
    assert head.title == PAGE_TITLE
    assert content["og:title"] == content.get("twitter:title", PAGE_TITLE) == PAGE_TITLE
    assert content["og:description"] == content["description"] == PAGE_DESCRIPTION
    assert not {"og:image", "twitter:image"} & set(content), content
    # Each preview tag once: ours replaced Gradio's, they were not added beside them.
    names = [m.get("property") or m.get("name") for m in head.meta]
    assert len(names) == len(set(names)), names


def test_no_meta_tag_names_another_host(served_page):
    head = _Head()
    head.feed(served_page)
    outside = [
        meta
        for meta in head.meta
        if urlparse(meta.get("content", "")).hostname not in {None, *LOOPBACK}
    ]
    assert not outside, outside
    assert "window.gradio_config" in served_page  # the app itself is still on the page
