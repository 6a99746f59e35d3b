"""The transcribe command decodes with the pipeline's own parameters, not settings of its own."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import soundfile
import yaml

from peft_pipelines import cli
from peft_pipelines.speech import transcribe
from peft_pipelines.speech.decoding import DecodingOptions

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _scratch_conf(tmp_path: Path, language: str) -> Path:
    conf = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", conf, ignore=shutil.ignore_patterns("local"))
    (conf / "local").mkdir()
    parameters = conf / "base" / "parameters_whisper_zh.yml"
    tree = yaml.safe_load(parameters.read_text())
    tree["whisper_zh"]["model"]["language"] = language
    parameters.write_text(yaml.safe_dump(tree))
    return conf


def _transcribe_capturing_options(tmp_path, monkeypatch, *flags: str) -> DecodingOptions:
    conf = _scratch_conf(tmp_path, "yue")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    audio = tmp_path / "clip.wav"
    soundfile.write(audio, np.zeros(1600, dtype=np.float32), 16000)
    seen = []

    class Heard:
        text, seconds, skipped_seconds = "你好", 0.1, 0.0

    monkeypatch.setattr(transcribe, "load_transcriber", lambda folder: (None, None))

    def fake_transcribe_file(model, processor, path, options):
        seen.append(options)
        return Heard()

    monkeypatch.setattr(transcribe, "transcribe_file", fake_transcribe_file)
    argv = [str(audio), "--adapter", str(adapter), "--conf-source", str(conf), *flags]
    assert cli.transcribe_main(argv) == 0
    (options,) = seen
    return options


class _NoOp:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_a_changed_language_in_the_parameters_is_the_one_the_cli_decodes_with(
    tmp_path, monkeypatch
):
    from peft_pipelines.training import comparison  # noqa: PLC0415

    monkeypatch.setattr(comparison, "on_side", lambda model, side: _NoOp())
    options = _transcribe_capturing_options(tmp_path, monkeypatch)
    assert options.language == "yue"
    assert options.max_new_tokens == 224 and options.vad is not None


def test_a_flag_overrides_the_parameters(tmp_path, monkeypatch):
    from peft_pipelines.training import comparison  # noqa: PLC0415

    monkeypatch.setattr(comparison, "on_side", lambda model, side: _NoOp())
    options = _transcribe_capturing_options(
        tmp_path, monkeypatch, "--language", "en", "--max-new-tokens", "50"
    )
    assert (options.language, options.max_new_tokens) == ("en", 50)


def test_without_a_configuration_the_command_says_so_in_one_line_before_any_model_loads(
    tmp_path, monkeypatch, capsys
):
    def refuse(folder):
        raise AssertionError("a model loaded")

    monkeypatch.setattr(transcribe, "load_transcriber", refuse)
    audio = tmp_path / "clip.wav"
    soundfile.write(audio, np.zeros(1600, dtype=np.float32), 16000)
    argv = [str(audio), "--adapter", str(tmp_path), "--conf-source", str(tmp_path / "no-conf")]
    assert cli.transcribe_main(argv) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == (
        f"error: no configuration at {tmp_path / 'no-conf'}: run from the project's root folder "
        "(--conf-source or --project-dir: point at another)"
    )
