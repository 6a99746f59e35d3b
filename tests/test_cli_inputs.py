"""The transcribe command (``whisper-zh-transcribe``) reads only local regular files: anything else is one line, exit 2, no model loaded."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from peft_pipelines import cli


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fails the test if the command goes on to look for an adapter (the model would load next)."""

    def refuse(*args, **kwargs):
        raise AssertionError("the command looked for a model")

    monkeypatch.setattr(cli, "latest_adapter", refuse)


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("error: ")
    return line


def test_a_directory_is_said_to_be_a_directory(tmp_path, capsys, no_model_loads):
    assert cli.exit_status(cli.transcribe, [str(tmp_path)]) == 2
    assert _one_error_line(capsys) == f"error: {tmp_path} is a directory, not an audio file"


@pytest.mark.parametrize(
    "url", ["http://example.org/clip.mp3", "https://example.org/a.wav", "s3://bucket/clip.flac"]
)
def test_a_url_is_refused_as_only_local_files_are_read(url, capsys, no_model_loads):
    assert cli.exit_status(cli.transcribe, [url]) == 2
    assert _one_error_line(capsys) == f"error: {url} is a URL: only local files are read"


def test_a_missing_an_empty_and_a_non_audio_file_are_one_line_each(
    tmp_path, capsys, no_model_loads
):
    assert cli.exit_status(cli.transcribe, [str(tmp_path / "nowhere.mp3")]) == 2
    assert (
        _one_error_line(capsys)
        == f"error: cannot read audio file {tmp_path / 'nowhere.mp3'}: no such file"
    )
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert cli.exit_status(cli.transcribe, [str(empty)]) == 2
    assert _one_error_line(capsys) == f"error: {empty} is empty (0 bytes)"
    # libsndfile calls an .mp3 that is not MPEG audio "not a regular file (possibly a pipe?)".
    for name in ("notes.mp3", "notes.wav"):
        text = tmp_path / name
        text.write_text("plain text, not audio at all\n" * 20)
        assert cli.exit_status(cli.transcribe, [str(text)]) == 2
        assert _one_error_line(capsys) == (
            f"error: cannot read audio file {text}: Format not recognised."
        )


def test_a_fifo_is_refused_at_once_instead_of_blocking_the_read(tmp_path):
    fifo = tmp_path / "clip.wav"
    os.mkfifo(fifo)
    # A child process, so that a read that blocks fails the test instead of hanging it.
    result = subprocess.run(
        [sys.executable, "-m", "peft_pipelines.cli", "transcribe", str(fifo)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {fifo} is not a regular file (a pipe, socket or device): only files are read"
    ]
