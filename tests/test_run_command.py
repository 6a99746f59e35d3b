"""The project's own ``kedro run``: a user's mistake from any node is one line and exit status 2.

Kedro's own command ends every error from a node, a hook or a dataset in a
traceback; ours (``peft_pipelines.cli.run_command``) takes Kedro's options and
session as they are and ends exactly the :class:`~peft_pipelines.errors.UserError`
family as ``error: <line>`` lines. Two subprocess runs see it whole; the rest is
checked in-process on a stand-in session.
"""

from __future__ import annotations

import contextlib
from typing import Any

import click
import pytest
from click.testing import CliRunner
from kedro.framework.cli.utils import find_run_command
from kedro.framework.session import KedroSession
from kedro.io import DatasetError

from peft_pipelines.data_quality import EmptySplitError
from peft_pipelines.errors import ConfigurationError
from peft_pipelines.runner import IncrementalRunner
from tests.scratch_project import copy_project, kedro_cli
from tests.support import copy_corpus_head, read_tsv


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error: ")]


@pytest.mark.slow
def test_a_split_of_zero_byte_clips_ends_the_run_with_one_line_naming_a_clip(
    tmp_path, tiny_whisper_catalog
):
    corpus = copy_corpus_head(tmp_path / "corpus", {"train": 2, "dev": 1, "test": 2})
    test_clips = [row["path"] for row in read_tsv(corpus / "test.tsv")]
    for clip in test_clips:
        (corpus / "clips" / clip).write_bytes(b"")
    (tmp_path / "project").mkdir()
    project = copy_project(tmp_path / "project", catalog=tiny_whisper_catalog)

    result = kedro_cli(project, "run", "--pipelines=whisper_zh", f"--params=corpus_dir={corpus}")

    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output
    [line] = _error_lines(result.stderr)
    assert line.startswith(
        "error: split 'test' has no usable rows (stage resample): all 2 were dropped "
        "(undecodable_audio: 2), e.g. "
    )
    assert any(f"e.g. {clip}: " in line for clip in test_clips), line
    assert "object at 0x" not in output


@pytest.mark.slow
def test_a_missing_base_model_folder_ends_the_run_with_one_line_naming_it(tmp_path):
    missing = tmp_path / "no_such_model"
    catalog = {
        "whisper_zh.pretrained_model": {
            "type": "peft_pipelines.io.PretrainedModelDataset",
            "name_or_path": str(missing),
        }
    }
    (tmp_path / "project").mkdir()
    project = copy_project(tmp_path / "project", catalog=catalog)

    result = kedro_cli(project, "run", "--pipelines=whisper_zh")

    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output
    [line] = _error_lines(result.stderr)
    assert str(missing) in line
    assert not (project / "data" / "02_intermediate").exists()


class _StandInSession:
    """What ``kedro run`` gets from ``KedroSession.create`` here: records its arguments, raises ``error``."""

    def __init__(self, error: BaseException | None, calls: dict[str, Any], **create_args: Any):
        self._error, self._calls = error, calls
        calls["create"] = create_args

    def run(self, **run_args: Any) -> dict:
        self._calls["run"] = run_args
        if self._error is not None:
            raise self._error
        return {}


@pytest.fixture
def run_with(monkeypatch):
    """``run(error, *args)``: our ``run`` command with ``args``, on a session that raises ``error``.

    ``command=`` invokes another command instead (the ``peft-pipelines`` group).
    """
    from peft_pipelines.cli import run_command  # noqa: PLC0415

    calls: dict[str, Any] = {}

    def invoke(error: BaseException | None, *args: str, command: click.Command | None = None):
        def create(cls, **create_args: Any) -> contextlib.AbstractContextManager:
            return contextlib.nullcontext(_StandInSession(error, calls, **create_args))

        monkeypatch.setattr(KedroSession, "create", classmethod(create))
        return CliRunner().invoke(command or run_command(), list(args)), calls

    return invoke


def test_a_user_error_from_a_node_is_its_lines_and_exit_status_two(run_with):
    problems = "whisper_zh.peft.r: must be >= 1 (got 0)\nwhisper_zh.peft.rank: unknown key"
    result, _ = run_with(ConfigurationError(problems))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: whisper_zh.peft.r: must be >= 1 (got 0)",
        "error: whisper_zh.peft.rank: unknown key",
    ]
    assert "Traceback" not in result.output


def test_a_user_error_that_kedro_wrapped_in_a_dataset_error_is_its_own_line(run_with):
    try:
        try:
            raise EmptySplitError("split 'test' has no rows (corpus/test.tsv)")
        except EmptySplitError as error:
            raise DatasetError("Failed while loading data from dataset X.\n...") from error
    except DatasetError as wrapped:
        result, _ = run_with(wrapped)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["error: split 'test' has no rows (corpus/test.tsv)"]


@pytest.mark.parametrize(
    "bug",
    [RuntimeError("a bug of ours"), DatasetError("Failed while saving: disk full")],
    ids=["runtime_error", "dataset_error_of_no_user_error"],
)
def test_any_other_error_is_not_turned_into_a_line(run_with, bug):
    result, _ = run_with(bug)
    assert result.exception is bug  # raised on, so Python prints its traceback
    assert result.exit_code == 1
    assert not _error_lines(result.output)


def test_every_option_reaches_kedros_session_as_kedros_own_run_passes_it(run_with):
    result, calls = run_with(
        None,
        "--runner=peft_pipelines.runner.IncrementalRunner",
        "--pipelines=whisper_zh",
        "--env=local",
        "--params=whisper_zh.peft.r=8,corpus_dir=/data/zh",
        "--tags=model",
        "--from-nodes=whisper_zh.train_adapter",
        "--only-missing-outputs",
    )
    assert result.exit_code == 0, result.output
    assert calls["create"] == {
        "env": "local",
        "conf_source": None,
        "runtime_params": {"whisper_zh": {"peft": {"r": 8}}, "corpus_dir": "/data/zh"},
    }
    run = calls["run"]
    assert isinstance(run["runner"], IncrementalRunner)
    assert run["pipeline_names"] == ["whisper_zh"]
    assert run["tags"] == ("model",)
    assert run["from_nodes"] == ["whisper_zh.train_adapter"]
    assert run["only_missing_outputs"] is True


@pytest.mark.parametrize("args", [["--pipelines=whisper_zh"], ["run", "--pipelines=whisper_zh"]])
def test_peft_pipelines_runs_the_project_when_named_no_command_or_run(run_with, args):
    from peft_pipelines.cli import cli  # noqa: PLC0415

    result, calls = run_with(
        ConfigurationError("whisper_zh.peft.r: must be >= 1"), *args, command=cli
    )
    assert calls["run"]["pipeline_names"] == ["whisper_zh"]
    assert (result.exit_code, result.stderr) == (2, "error: whisper_zh.peft.r: must be >= 1\n")


def test_python_dash_m_peft_pipelines_runs_the_same_command():
    from peft_pipelines.cli import run_command  # noqa: PLC0415

    assert find_run_command("peft_pipelines") is run_command()


def test_kedro_finds_our_run_in_the_projects_command_group():
    from peft_pipelines.cli import cli, run_command  # noqa: PLC0415

    with click.Context(cli) as ctx:
        assert cli.get_command(ctx, "run") is run_command()
        assert "run" in cli.list_commands(ctx)


def test_the_stale_commands_params_are_read_as_kedro_run_reads_them():
    from peft_pipelines.cli import kedro_runtime_params  # noqa: PLC0415

    assert kedro_runtime_params("a.b=1, c=x,d=0.5") == {"a": {"b": 1}, "c": "x", "d": 0.5}
