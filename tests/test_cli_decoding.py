"""The transcribe command and the demo decode with the pipeline's own parameters, not settings of their own.

A scratch project changes ``whisper_zh.model.language``; the command, the demo
and the evaluation node's inputs all see the change, and a flag overrides it.
No model loads: the transcription is a stand-in that records its options.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from peft_pipelines import cli
from peft_pipelines.project import Project
from peft_pipelines.speech import transcribe
from peft_pipelines.speech.decoding import DecodingOptions
from tests.scratch_project import copy_project


@pytest.fixture
def cantonese_project(tmp_path, monkeypatch) -> Path:
    """A scratch project whose whisper_zh decodes Cantonese, as the working directory."""
    (tmp_path / "project").mkdir()
    project = copy_project(
        tmp_path / "project", parameters={"whisper_zh": {"model": {"language": "yue"}}}
    )
    monkeypatch.chdir(project)
    return project


@pytest.fixture
def decoded_with(monkeypatch) -> list[DecodingOptions]:
    """The options each transcription is given (filled in as the command runs)."""
    seen: list[DecodingOptions] = []

    def stand_in(model, processor, path, options):
        seen.append(options)
        return transcribe.FileTranscript(text="你好", seconds=0.1, speech_seconds=0.1, loops_cut=0)

    monkeypatch.setattr(transcribe, "load_transcriber", lambda folder: (None, None))
    monkeypatch.setattr(transcribe, "transcribe_file", stand_in)
    return seen


def _transcribe(project: Path, *flags: str, capsys) -> str:
    adapter = project / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    audio = project / "clip.wav"
    soundfile.write(audio, np.zeros(1600, dtype=np.float32), 16000)
    assert cli.exit_status(cli.transcribe, [str(audio), "--adapter", str(adapter), *flags]) == 0
    return capsys.readouterr().out


def test_a_changed_language_in_the_parameters_is_the_one_the_command_decodes_with(
    cantonese_project, decoded_with, capsys
):
    assert _transcribe(cantonese_project, capsys=capsys) == "你好\n"
    (options,) = decoded_with
    assert options.language == "yue"
    assert options == DecodingOptions(language="yue")  # the rest as conf/base has it


def test_a_flag_overrides_the_parameters(cantonese_project, decoded_with, capsys):
    _transcribe(cantonese_project, "--language", "en", "--max-new-tokens", "50", capsys=capsys)
    (options,) = decoded_with
    assert (options.language, options.task, options.max_new_tokens) == ("en", "transcribe", 50)


def test_the_demo_and_the_evaluation_node_decode_with_the_same_settings(cantonese_project):
    from peft_pipelines.demo import DemoHandlers  # noqa: PLC0415

    catalog = Project.at(cantonese_project).catalog
    # What the evaluation node is given, and builds its options from.
    node_options = DecodingOptions.from_parameters(
        catalog.load("params:whisper_zh.model"), catalog.load("params:whisper_zh.evaluation")
    )
    assert DemoHandlers(cantonese_project).decoding == node_options
    assert node_options.language == "yue"


def test_without_a_configuration_the_command_says_so_in_one_line_before_any_model_loads(
    tmp_path, monkeypatch, capsys
):
    def refuse(folder):
        raise AssertionError("a model loaded")

    monkeypatch.setattr(transcribe, "load_transcriber", refuse)
    audio = tmp_path / "clip.wav"
    soundfile.write(audio, np.zeros(1600, dtype=np.float32), 16000)
    argv = [str(audio), "--adapter", str(tmp_path), "--conf-source", str(tmp_path / "no-conf")]
    assert cli.exit_status(cli.transcribe, argv) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == (
        f"error: no configuration at {tmp_path / 'no-conf'}: run from the project's root folder "
        "(--conf-source or --project-dir: point at another)"
    )
