"""A throwaway copy of this Kedro project, for tests and benchmarks that must not touch data/.

The copy has the project's settings and configuration and links the bundled
inputs (``data/01_raw``) in; every run in it writes under the copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

# This file is tests/scratch_project.py in the project checkout.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def copy_project(
    root: Path,
    *,
    tracked: bool = False,
    catalog: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    source: Path = PROJECT_ROOT,
) -> Path:
    """This Kedro project's config in ``root``, bundled inputs linked in:
    runs write there, never into the real data/ folder.

    ``catalog`` entries go to conf/local/catalog.yml (a tiny random base model
    instead of a packaged one, another corpus...), as a user would write them;
    ``parameters`` go to conf/local/parameters.yml, merged into conf/base's key by key.
    Untracked unless ``tracked``: conf/local/mlflow.yml gets the README's off switch, as
    importing MLflow and creating its store cost tens of seconds.
    """
    if not (source / "conf" / "base").is_dir():
        raise FileNotFoundError(f"{source} is not the project checkout (no conf/base)")
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(source / name, root / name)
    shutil.copytree(source / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    if not tracked:
        (root / "conf" / "local" / "mlflow.yml").write_text("enabled: false\n")
    for name, entries in (("catalog", catalog), ("parameters", parameters)):
        if entries:
            (root / "conf" / "local" / f"{name}.yml").write_text(
                yaml.safe_dump(entries, allow_unicode=True, sort_keys=False)
            )
    (root / "data" / "06_models").mkdir(parents=True)
    (root / "data" / "01_raw").symlink_to(source / "data" / "01_raw")
    (root / "src").mkdir()  # the package itself is imported from the installed project
    return root


def run_pipeline(
    project: Path, pipeline_name: str, runtime_params: dict[str, Any] | None = None, **run_args: Any
) -> None:
    """Run ``pipeline_name`` in ``project`` in this process, as ``kedro run`` does from there."""
    from kedro.framework.session import KedroSession  # noqa: PLC0415 (kedro is slow to import)
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    cwd = os.getcwd()
    os.chdir(project)
    try:
        bootstrap_project(project)
        with KedroSession.create(project_path=project, runtime_params=runtime_params) as session:
            session.run(pipeline_name=pipeline_name, **run_args)
    finally:
        os.chdir(cwd)


def kedro_cli(
    project: Path, *args: str, pythonpath: Path | None = None
) -> subprocess.CompletedProcess:
    """``kedro <args>`` in ``project`` in a child process, offline; output captured.

    ``pythonpath`` puts a copy of the package first (to run edited code).
    """
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [sys.executable, "-m", "kedro", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
