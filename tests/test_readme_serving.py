"""The README's "Serving the result" snippets run as written, on tiny random exports where the stages put them.

Each ```` ```python tested ```` block of README.md runs unchanged from the
root of a scratch project holding a tiny random Whisper's and a tiny random
OPT's adapters merged and exported as the export stages do: a snippet that no
longer matches the exports' layout or the libraries' APIs fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from peft_pipelines.io.base_model_manifest import BaseModelManifest
from peft_pipelines.speech.tiny_whisper import build_tiny_whisper
from peft_pipelines.text.causal_lm import build_tiny_opt
from tests.scratch_project import PROJECT_ROOT, copy_project
from tests.support import (
    PROCESSOR_DIR,
    TINY_ARCHITECTURE,
    TINY_OPT_CATALOG,
    export_lookalike_adapter,
)

TESTED_SNIPPET = re.compile(r"^```python tested\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# Whisper's whole 30 s window: faster-whisper and transformers' pipeline feed the model 3000 frames.
WHOLE_WINDOW_WHISPER = {
    **TINY_ARCHITECTURE,
    "max_source_positions": 1500,
    "max_target_positions": 448,
}


def readme_snippets() -> list[str]:
    return TESTED_SNIPPET.findall((PROJECT_ROOT / "README.md").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def served_project(tmp_path_factory) -> Path:
    """A project whose whisper_zh and opt_quotes adapters are merged and exported (int8) as the stages do."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    bases = tmp_path_factory.mktemp("bases")
    whisper = build_tiny_whisper(
        str(PROCESSOR_DIR), WHOLE_WINDOW_WHISPER, 0, str(bases / "whisper")
    )
    opt = build_tiny_opt(
        str(PROJECT_ROOT / "data/01_raw/gpt2_tokenizer"),
        TINY_OPT_CATALOG["opt_quotes.pretrained_model"]["architecture"],
        0,
        bases / "opt",
    )
    models = project / "data" / "06_models"
    export_lookalike_adapter(
        models / "whisper_zh",
        BaseModelManifest(str(whisper), "whisper", quantization="none"),
        "int8",
    )
    export_lookalike_adapter(
        models / "opt_quotes",
        BaseModelManifest(str(opt), "causal_lm", quantization="none"),
        "int8",
        task_type="CAUSAL_LM",
    )
    return project


def test_the_readme_shows_each_way_of_serving():
    snippets = readme_snippets()
    assert len(snippets) == 3, "the README's ```python tested blocks"
    assert 'WhisperModel(folder, device="cpu", compute_type="int8")' in snippets[0]
    assert "ctranslate2.Generator(folder" in snippets[1] and "generate_batch" in snippets[1]
    assert 'pipeline("automatic-speech-recognition", model=folder)' in snippets[2]


@pytest.mark.parametrize("index", range(len(readme_snippets())))
def test_a_readme_snippet_runs_as_written(served_project, index, monkeypatch, capsys):
    snippet = readme_snippets()[index]
    monkeypatch.chdir(served_project)  # as the README says: from the project's root folder
    exec(compile(snippet, f"README.md snippet {index + 1}", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.endswith("\n")  # it printed its text (noise: random weights)
