"""One way in: every command is one click command, which the console scripts, ``peft-pipelines`` and ``kedro`` all run."""

from __future__ import annotations

import importlib
import tomllib

import click

from peft_pipelines import cli
from tests.scratch_project import PROJECT_ROOT

COMMANDS = ["demo", "run", "size", "stale", "transcribe", "viz-offline"]


def _entry_point(target: str) -> object:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _command(name: str) -> click.Command | None:
    with click.Context(cli.cli) as ctx:
        return cli.cli.get_command(ctx, name)


def test_the_group_holds_each_command_once():
    with click.Context(cli.cli) as ctx:
        assert cli.cli.list_commands(ctx) == COMMANDS


def test_the_console_scripts_are_the_groups_own_commands():
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {name: _entry_point(target) for name, target in scripts.items()} == {
        "peft-pipelines": cli.cli,
        "peft-pipelines-size": _command("size"),
        "whisper-zh-transcribe": _command("transcribe"),
    }


def test_kedro_runs_the_same_command_objects_and_keeps_kedro_vizs_viz():
    from kedro.framework.cli.cli import KedroCLI  # noqa: PLC0415 (it bootstraps the project)

    kedro = KedroCLI(project_path=PROJECT_ROOT)
    with click.Context(kedro) as ctx:
        for name in COMMANDS:
            assert kedro.get_command(ctx, name) is _command(name), name
        assert _command("viz") is None
        assert kedro.get_command(ctx, "viz") is not None  # kedro-viz's, which viz-offline runs
