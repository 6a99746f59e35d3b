"""The transcribe command with the CTranslate2 engine: several files at once, subtitles, a broken export.

The export is a random tiny Whisper converted as the export stages convert a
merged adapter, placed where they place it: its transcripts are noise, what
is checked is the command's handling of files, formats and errors.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from peft_pipelines import cli
from tests.scratch_project import PROJECT_ROOT
from tests.support import BUNDLED_CORPUS, save_export_verdict, tiny_ctranslate2_export

VERSION = "2026-01-01T00.00.00.000Z"
SUBRIP_CUE = re.compile(r"^\d+\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n.+\n$", re.MULTILINE)


@pytest.fixture(scope="module")
def exported_adapter(tmp_path_factory) -> Path:
    """An adapter folder (never loaded) with a CTranslate2 export at the export stages' layout."""
    root = tmp_path_factory.mktemp("models") / "whisper_zh"
    adapter = root / "adapter" / VERSION / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    export = tiny_ctranslate2_export(tmp_path_factory.mktemp("tiny"))
    shutil.copytree(export, root / "ctranslate2" / VERSION / "ctranslate2")
    save_export_verdict(root, version=VERSION)
    return adapter


def _run(adapter: Path, *args: str) -> int:
    argv = [*args, "--adapter", str(adapter), "--conf-source", str(PROJECT_ROOT / "conf")]
    return cli.exit_status(cli.transcribe, [*argv, "--max-new-tokens", "4"])


def _clips(count: int) -> list[str]:
    return [str(p) for p in sorted((BUNDLED_CORPUS / "clips").iterdir())[:count]]


def test_two_clips_and_an_empty_file_give_two_lines_one_error_and_exit_2(
    exported_adapter, tmp_path, capsys
):
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    first, second = _clips(2)
    assert _run(exported_adapter, first, str(empty), second, "--engine", "ctranslate2") == 2
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [first, second]
    assert all(line.split("\t")[1] for line in lines)
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {empty} is empty (0 bytes)"]


def test_the_export_is_the_default_engine_and_stderr_says_so(exported_adapter, capsys):
    assert _run(exported_adapter, *_clips(1)) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines()[-1].startswith("engine: ctranslate2 (")
    assert captured.out.strip() and "\t" not in captured.out


@pytest.mark.parametrize(
    ("verdict", "reason"),
    [
        (
            {"passed": False, "failures": ["test clips: CER 0.150 against 0.110"]},
            "failed its parity check: test clips: CER 0.150",
        ),
        (None, "has no parity verdict"),
    ],
)
def test_an_export_without_a_passed_verdict_is_not_the_default(
    exported_adapter, tmp_path, verdict, reason
):
    root = tmp_path / "whisper_zh"
    adapter = root / "adapter" / VERSION / "adapter"
    shutil.copytree(exported_adapter, adapter)
    export = exported_adapter.parents[2] / "ctranslate2" / VERSION / "ctranslate2"
    shutil.copytree(export, root / "ctranslate2" / VERSION / "ctranslate2")
    if verdict is not None:
        save_export_verdict(root, version=VERSION, **verdict)
    export, which = cli.chosen_engine(None, adapter, base_only=False)
    assert export is None
    assert which.startswith("transformers (the CTranslate2 export at ") and reason in which
    asked, which = cli.chosen_engine("ctranslate2", adapter, base_only=False)
    assert asked == root / "ctranslate2" / VERSION / "ctranslate2" and reason in which


def test_srt_is_subrip(exported_adapter, tmp_path, capsys):
    assert _run(exported_adapter, *_clips(1), "--format", "srt") == 0
    document = capsys.readouterr().out
    assert document.startswith("1\n00:00:00,")
    assert SUBRIP_CUE.fullmatch(document), document
    out = tmp_path / "subtitles"
    assert _run(exported_adapter, *_clips(2), "--format", "vtt", "--output-dir", str(out)) == 0
    written = sorted(out.iterdir())
    assert [p.suffix for p in written] == [".vtt", ".vtt"]
    assert all(p.read_text(encoding="utf-8").startswith("WEBVTT\n\n00:00:") for p in written)


def test_several_files_as_srt_on_stdout_are_refused_before_any_model_loads(
    exported_adapter, capsys
):
    assert _run(exported_adapter, *_clips(2), "--format", "srt") == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: several files as srt need --output-dir: one file each"
    ]


def test_two_files_of_one_name_into_one_output_dir_are_refused_before_any_model_loads(
    exported_adapter, tmp_path, capsys
):
    first = _clips(1)[0]
    twin = tmp_path / "elsewhere" / Path(first).name
    twin.parent.mkdir()
    shutil.copy(first, twin)
    out = tmp_path / "subtitles"
    assert (
        _run(exported_adapter, first, str(twin), "--format", "srt", "--output-dir", str(out)) == 2
    )
    target = out / f"{Path(first).stem}.srt"
    assert capsys.readouterr().err.splitlines() == [
        f"error: {first} and {twin} would both be written to {target}: "
        "give them in separate runs or rename one"
    ]
    assert not out.exists()


def test_a_truncated_model_bin_is_one_line_and_exit_2(exported_adapter, tmp_path, capsys):
    copy = tmp_path / "whisper_zh"
    shutil.copytree(exported_adapter.parents[2], copy)
    model = copy / "ctranslate2" / VERSION / "ctranslate2" / "model.bin"
    model.write_bytes(model.read_bytes()[:5000])
    adapter = copy / "adapter" / VERSION / "adapter"
    assert _run(adapter, *_clips(1), "--engine", "ctranslate2") == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {model} is truncated"), line


def test_asking_for_an_export_that_does_not_exist_is_one_line(tmp_path, capsys):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    assert _run(adapter, *_clips(1), "--engine", "ctranslate2") == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: no CTranslate2 export of the adapter at {adapter}")
