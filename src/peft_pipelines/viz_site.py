"""Kedro-Viz for this project with no network: build the static site, strip what it
would fetch from outside the machine, and serve it on loopback.

`kedro viz run` checks PyPI for a newer kedro-viz at every start, and the page it
serves asks Google Fonts for its typeface. `kedro viz build` does neither at build
time, but its `index.html` keeps the font links; without them the page falls back
to a local font and makes no request that leaves the machine (the browser test
checks this from Chromium's network log).

    peft-pipelines viz-offline            # build into ./build
    peft-pipelines viz-offline --serve    # build, then serve on 127.0.0.1:4141 (`make viz`)
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# A <link> whose href is absolute (http, https or protocol-relative): preconnects
# and stylesheets of remote fonts. Local assets are linked as "./assets/...".
_REMOTE_LINK = re.compile(r'<link\b[^>]*\bhref="(?:https?:)?//[^"]*"[^>]*>\s*', re.IGNORECASE)
_REMOTE_SCRIPT = re.compile(
    r'<script\b[^>]*\bsrc="(?:https?:)?//[^"]*"[^>]*>\s*</script>\s*', re.IGNORECASE
)

OFFLINE_ENV = {"KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1"}


def strip_remote_assets(index_html: Path) -> list[str]:
    """Remove the <link> and <script> tags of `index_html` that point off the machine.

    Returns the removed tags, so the caller can say what went.
    """
    html = index_html.read_text(encoding="utf-8")
    removed = _REMOTE_LINK.findall(html) + _REMOTE_SCRIPT.findall(html)
    html = _REMOTE_SCRIPT.sub("", _REMOTE_LINK.sub("", html))
    index_html.write_text(html, encoding="utf-8")
    return [tag.strip() for tag in removed]


def build_offline_site(project_dir: Path) -> Path:
    """Run `kedro viz build` in `project_dir` and make its site self-contained.

    Returns the site's folder (`<project_dir>/build`).
    """
    kedro = Path(sys.executable).with_name("kedro")
    command = [str(kedro)] if kedro.exists() else [sys.executable, "-m", "kedro"]
    env = {**os.environ, **OFFLINE_ENV}
    subprocess.run([*command, "viz", "build"], cwd=project_dir, env=env, check=True)
    site = project_dir / "build"
    index_html = site / "index.html"
    if not index_html.is_file():
        raise FileNotFoundError(f"`kedro viz build` wrote no {index_html}")
    for tag in strip_remote_assets(index_html):
        print(f"viz_site: removed remote asset {tag}")
    return site


def serve_site(site: Path, port: int, host: str = "127.0.0.1") -> None:
    """Serve `site` on `host:port` until interrupted."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    with ThreadingHTTPServer((host, port), handler) as server:
        print(
            f"Kedro-Viz (offline build): http://{host}:{server.server_address[1]}/  (Ctrl-C stops)"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
