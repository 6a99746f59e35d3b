"""The demo's third box: the CTranslate2 export of the picked whisper_zh adapter, beside base and fine-tuned.

The project holds a tiny random Whisper's adapter, merged and exported (int8)
as the export stages do, where the catalog keeps them; its transcripts are
noise: what is checked is which boxes get what.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from kedro.io import Version

from peft_pipelines.demo import DemoHandlers, build_app
from peft_pipelines.io.exported_models import write_export_record
from peft_pipelines.io.model_datasets import BaseModelManifestDataset, PeftAdapterDataset
from peft_pipelines.speech import transcribe as transcribe_module
from peft_pipelines.speech.ctranslate2_engine import CTranslate2Transcriber
from tests.scratch_project import copy_project
from tests.support import EXPORT_VERSION, export_lookalike_adapter, save_export_verdict

MODELS = Path("data/06_models/whisper_zh")
# Older than EXPORT_VERSION: the newest adapter, the page's first pick, keeps its good export.
SPOILT = {
    "cut model.bin": "2025-01-01T00.00.00.000Z",
    "cut model.bin, record rewritten": "2025-01-02T00.00.00.000Z",
    "vocabulary": "2025-01-03T00.00.00.000Z",
}
NOT_EXPORTED = "2025-02-01T00.00.00.000Z"
PARITY_FAILED = "2025-03-01T00.00.00.000Z"


@pytest.fixture(scope="module")
def exported_project(tmp_path_factory, tiny_whisper_manifest) -> Path:
    """A project whose whisper_zh adapter has an int8 CTranslate2 export, both where the catalog keeps them."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    models = project / MODELS
    models.mkdir(parents=True)
    manifest_file = models / "base_model_manifest.json"
    BaseModelManifestDataset(filepath=str(manifest_file)).save(tiny_whisper_manifest)
    adapter, _, _ = export_lookalike_adapter(models, tiny_whisper_manifest, "int8")
    PeftAdapterDataset(
        path=str(models / "adapter"),
        base_model_manifest=str(manifest_file),
        version=Version(None, EXPORT_VERSION),
    ).save(adapter)
    return project


@pytest.fixture(scope="module")
def handlers(exported_project) -> DemoHandlers:
    return DemoHandlers(exported_project)  # module-wide: the models load once


def _version_copy(project: Path, version: str, *, exported: bool) -> Path | None:
    """The adapter (and, if ``exported``, its export) copied under another version; the export's folder."""
    for kind in ("adapter", "ctranslate2") if exported else ("adapter",):
        shutil.copytree(project / MODELS / kind / EXPORT_VERSION, project / MODELS / kind / version)
    return project / MODELS / "ctranslate2" / version / "ctranslate2" if exported else None


def _spoil(export: Path, how: str) -> None:
    model = export / "model.bin"
    if how.startswith("cut model.bin"):
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    else:  # ids that name other tokens, as a converter given another tokenizer writes them
        vocabulary = json.loads((export / "vocabulary.json").read_text())
        vocabulary[100], vocabulary[101] = vocabulary[101], vocabulary[100]
        (export / "vocabulary.json").write_text(json.dumps(vocabulary))
    if how != "cut model.bin":
        write_export_record(export, "int8")  # the record agrees: the check after it must find it


def _clip(bundled_corpus: Path) -> str:
    return str(sorted((bundled_corpus / "clips").glob("*.mp3"))[0])


def test_an_adapter_with_an_export_gives_three_transcripts_decoded_alike(
    handlers, bundled_corpus, monkeypatch
):
    decoded_with = []
    real_transcribe_files = transcribe_module.transcribe_files

    def spy(transcriber, paths, options, **kwargs):
        decoded_with.append((type(transcriber), options))
        return real_transcribe_files(transcriber, paths, options, **kwargs)

    monkeypatch.setattr(transcribe_module, "transcribe_files", spy)
    assert handlers.export_box(None) == (True, "Fine-tuned, CTranslate2 int8")
    assert "**CTranslate2 export**" in handlers.describe(None)

    replies = list(handlers.transcribe(_clip(bundled_corpus), EXPORT_VERSION))
    base, tuned, exported, status = replies[-1]
    assert base and tuned and exported and not exported.startswith("⚠"), replies[-1]
    assert re.search(r"Fine-tuned, CTranslate2 int8 \d+\.\d s\.$", status), status
    # All three boxes decode with the project's options (Project.decoding_options()).
    assert len(decoded_with) == 3 and CTranslate2Transcriber in {t for t, _ in decoded_with}
    assert all(options == handlers.decoding for _, options in decoded_with)


@pytest.mark.parametrize("how", SPOILT)
def test_a_broken_export_is_a_message_naming_it_and_the_other_boxes_still_work(
    handlers, exported_project, bundled_corpus, how
):
    export = _version_copy(exported_project, SPOILT[how], exported=True)
    _spoil(export, how)
    replies = list(handlers.transcribe(_clip(bundled_corpus), SPOILT[how]))
    base, tuned, exported, status = replies[-1]
    assert base and tuned and not base.startswith("⚠"), replies[-1]
    assert exported.startswith("⚠") and str(export) in exported, exported
    assert "\n" not in exported and "Traceback" not in exported
    assert "Fine-tuned, CTranslate2" in status
    assert handlers.export_box(SPOILT[how])[0]  # the box is shown, with its message


def test_an_export_that_failed_its_parity_check_is_not_served(
    handlers, exported_project, bundled_corpus
):
    export = _version_copy(exported_project, PARITY_FAILED, exported=True)
    failure = "test clips: CER 0.150 against the merged model's 0.110"
    save_export_verdict(
        exported_project / MODELS, passed=False, version=PARITY_FAILED, failures=[failure]
    )
    replies = list(handlers.transcribe(_clip(bundled_corpus), PARITY_FAILED))
    base, tuned, exported, status = replies[-1]
    assert base and tuned and not tuned.startswith("⚠"), replies[-1]
    assert exported.startswith("⚠") and failure in exported and str(export.parents[2]) in exported
    assert status.endswith("not served.")


def test_an_adapter_without_an_export_gives_the_two_boxes_of_before(
    handlers, exported_project, bundled_corpus
):
    _version_copy(exported_project, NOT_EXPORTED, exported=False)
    assert handlers.export_box(NOT_EXPORTED)[0] is False
    assert "CTranslate2" not in handlers.describe(NOT_EXPORTED)
    replies = list(handlers.transcribe(_clip(bundled_corpus), NOT_EXPORTED))
    base, tuned, exported, status = replies[-1]
    assert base and tuned and exported == ""
    assert "CTranslate2" not in status


def _export_box(app) -> object:
    (box,) = [b for b in app.blocks.values() if b.elem_id == "ctranslate2-transcript"]
    return box


def test_the_page_has_the_third_box_only_for_an_adapter_with_an_export(exported_project, tmp_path):
    box = _export_box(build_app(exported_project))
    assert box.visible and box.label == "Fine-tuned, CTranslate2 int8"
    bare = copy_project(tmp_path)
    shutil.copytree(
        exported_project / MODELS / "adapter" / EXPORT_VERSION,
        bare / MODELS / "adapter" / EXPORT_VERSION,
    )
    assert not _export_box(build_app(bare)).visible
