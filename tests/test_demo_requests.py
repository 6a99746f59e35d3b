"""The demo's guards on what a request may ask: an adapter deleted after start, a huge prompt, a slow model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from peft_pipelines.demo import DemoHandlers, GenerationLimits, continue_both
from tests.scratch_project import PROJECT_ROOT, copy_project

ARCHITECTURES = {"whisper_zh": "whisper", "opt_quotes": "causal_lm"}
VERSIONS = ("2026-11-01T10.00.00.000Z", "2026-11-02T10.00.00.000Z")


def _adapter_folders(project: Path, pipeline: str) -> list[Path]:
    """Two versions of a trained adapter as a run leaves them (config and manifest; no weights needed)."""
    folders = []
    for version in VERSIONS:
        folder = project / "data/06_models" / pipeline / "adapter" / version / "adapter"
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text(
            json.dumps({"peft_type": "LORA", "r": 4, "base_model_name_or_path": "base"})
        )
        manifest = {"name_or_path": "base", "architecture": ARCHITECTURES[pipeline]}
        (folder / "base_model_manifest.json").write_text(json.dumps(manifest))
        folders.append(folder)
    return folders


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    project = copy_project(tmp_path)
    monkeypatch.chdir(project)  # the demo runs from the project root
    return project


def test_an_adapter_deleted_after_the_page_loaded_is_said_to_be_gone_and_the_list_refreshed(
    project, bundled_corpus
):
    older, newer = _adapter_folders(project, "whisper_zh")
    handlers = DemoHandlers(project)
    shutil.rmtree(older.parent)  # after the page listed it
    clip = next((bundled_corpus / "clips").glob("*.mp3"))

    replies = list(handlers.transcribe(str(clip), VERSIONS[0]))
    assert len(replies) == 1, replies
    base, tuned, exported, status = replies[0]
    assert (base, tuned, exported) == ("", "", "")
    assert status.startswith(f"⚠ Adapter `{VERSIONS[0]}` is no longer on disk"), status
    assert not handlers.loaded.models  # no other adapter answered in its place
    assert "no longer on disk" in handlers.describe(VERSIONS[0])

    labels, shown, facts = handlers.adapter_choices(VERSIONS[0])
    assert labels == [VERSIONS[1]] and shown == VERSIONS[1]
    assert str(newer.relative_to(project)) in facts
    # A pick still on disk is kept when the list is refreshed.
    assert handlers.adapter_choices(VERSIONS[1])[1] == VERSIONS[1]


def test_a_prompt_over_the_limit_is_refused_before_any_model_loads(project):
    _adapter_folders(project, "opt_quotes")
    handlers = DemoHandlers(project)
    replies = list(handlers.generate("x" * 93_000))
    assert replies == [("", "", "⚠ The prompt is 93,000 characters; the limit is 2,000.")]
    assert not handlers.loaded.models


@pytest.fixture(scope="module")
def tiny_text_model():
    import torch  # noqa: PLC0415
    from peft import LoraConfig, get_peft_model  # noqa: PLC0415
    from transformers import AutoTokenizer, OPTConfig, OPTForCausalLM  # noqa: PLC0415

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(PROJECT_ROOT / "data/01_raw/gpt2_tokenizer")
    tokenizer.pad_token = tokenizer.eos_token
    config = OPTConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        word_embed_proj_dim=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=32,
        max_position_embeddings=128,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )
    base = OPTForCausalLM(config)
    model = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    return model, tokenizer


def test_each_continuation_stops_at_the_time_limit(tiny_text_model):
    model, tokenizer = tiny_text_model
    prompt = "Two things are infinite: "
    free = continue_both(model, tokenizer, prompt, GenerationLimits(max_new_tokens=32))
    cut = continue_both(
        model, tokenizer, prompt, GenerationLimits(max_new_tokens=32, max_seconds=0.0)
    )
    for side in ("base", "finetuned"):
        whole, first_step = free[side][0], cut[side][0]
        # Greedy, so the cut continuation is the first step of the whole one.
        assert len(first_step) < len(whole) and whole.startswith(first_step), (whole, first_step)
    assert free["note"] == ""
    assert cut["note"] == "; base and fine-tuned stopped at the 0 s limit"
