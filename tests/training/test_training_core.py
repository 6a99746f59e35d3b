"""The shared training core on a tiny Whisper: 8-bit load, PEFT from config, fitting, adapter round trip."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import bitsandbytes as bnb
import pytest
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

from peft_pipelines.io import PeftAdapterDataset
from peft_pipelines.io.model_loading import load_base_model
from peft_pipelines.speech.collator import WhisperBatchCollator, collator_for
from peft_pipelines.training.fitting import fit_model
from peft_pipelines.training.peft_wrapping import wrap_with_peft
from peft_pipelines.training.sizing import size_on_meta
from tests.scratch_project import PROJECT_ROOT


def _collator(model) -> WhisperBatchCollator:
    return collator_for(model.config)


def _lora_parameter_count(config: WhisperConfig, targets: list[str], r: int) -> int:
    """LoRA adds r x (in + out) per adapted projection: count them from the config alone."""
    d = config.d_model
    per_layer = {"encoder": 1, "decoder": 2}  # self-attention; the decoder also has cross-attention
    layers = {"encoder": config.encoder_layers, "decoder": config.decoder_layers}
    return sum(layers[side] * per_layer[side] * len(targets) * r * (d + d) for side in layers)


def _train(manifest, features, peft_params, training, tmp_path):
    model, summary = wrap_with_peft(load_base_model(manifest), peft_params)
    columns = ["log_mel", "labels"]
    trained, log = fit_model(
        model,
        features["train"].select_columns(columns),
        features["dev"].select_columns(columns),
        _collator(model.get_base_model()),
        training={
            "output_dir": str(tmp_path / "checkpoints"),
            "per_device_train_batch_size": 4,
            "report_to": [],
            **training,
        },
        fingerprint_parts={"base_model": manifest.to_mapping(), "peft": peft_params},
        seq2seq=True,
    )
    return trained, summary, log


def test_int8_base_with_lora_trains_and_only_the_adapter_changes(
    tiny_whisper_manifest, bundled_features, tmp_path, lora_config
):
    base = load_base_model(tiny_whisper_manifest)
    assert isinstance(base.model.encoder.layers[0].self_attn.q_proj, bnb.nn.Linear8bitLt)
    assert base.config.forced_decoder_ids is None and base.config.suppress_tokens == []

    model, summary = wrap_with_peft(base, lora_config)
    expected = _lora_parameter_count(base.config, lora_config["target_modules"], lora_config["r"])
    assert summary["parameters"]["trainable"] == expected
    assert summary["unmatched_target_modules"] == []

    batch = _collator(base)([bundled_features["train"][i] for i in range(4)])
    loss = model(**batch).loss
    loss.backward()
    lora_grads = [p.grad for n, p in model.named_parameters() if "lora_" in n]
    assert lora_grads and all(g is not None for g in lora_grads)
    assert any(g.abs().sum() > 0 for g in lora_grads)
    assert all(p.grad is None for n, p in model.named_parameters() if "lora_" not in n)


def test_a_target_module_that_matches_nothing_is_a_warning_naming_it(
    tiny_whisper_manifest, caplog, lora_config
):
    base = load_base_model(replace(tiny_whisper_manifest, quantization="none"))
    with caplog.at_level(logging.WARNING):
        _, summary = wrap_with_peft(base, {**lora_config, "target_modules": ["q_proj", "fc_in"]})
    assert summary["unmatched_target_modules"] == ["fc_in"]
    assert "'fc_in' matches no module" in caplog.text


def test_adalora_rank_allocation_really_runs(tiny_whisper_manifest, bundled_features, tmp_path):
    adalora = {
        "peft_type": "ADALORA",
        "init_r": 6,
        "target_r": 2,
        "tinit": 1,
        "tfinal": 2,
        "deltaT": 1,
        "total_step": 6,  # AdaLoRA's rank schedule needs the run's length: max_steps below
        "target_modules": ["q_proj", "v_proj"],
        "lora_alpha": 32,
    }
    trained, summary, _ = _train(
        tiny_whisper_manifest,
        bundled_features,
        adalora,
        {"max_steps": 6, "learning_rate": 1e-2},
        tmp_path,
    )
    assert summary["peft_type"] == "ADALORA"
    trained.save_pretrained(str(tmp_path / "adapter"))
    saved = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    ranks = [sum(bool(v) for v in mask) for mask in saved["rank_pattern"].values()]
    assert ranks and sum(ranks) < adalora["init_r"] * len(ranks)  # budgeting pruned ranks


def test_ia3_is_selectable_by_configuration_alone(
    tiny_whisper_manifest, bundled_features, tmp_path
):
    ia3 = {
        "peft_type": "IA3",
        "target_modules": ["k_proj", "v_proj", "fc2"],
        "feedforward_modules": ["fc2"],
    }
    trained, summary, log = _train(
        tiny_whisper_manifest, bundled_features, ia3, {"max_steps": 2}, tmp_path
    )
    assert summary["peft_type"] == "IA3"
    assert summary["parameters"]["trainable"] > 0
    assert log["global_step"] == 2


def test_adapter_round_trip_through_the_catalog_gives_the_same_outputs(
    tiny_whisper_manifest, bundled_features, tmp_path, lora_config
):
    trained, _, _ = _train(
        tiny_whisper_manifest,
        bundled_features,
        lora_config,
        {"max_steps": 2, "learning_rate": 1e-2},
        tmp_path,
    )
    trained.eval()
    batch = _collator(trained.get_base_model())([bundled_features["test"][i] for i in range(2)])
    with torch.no_grad():
        before = trained(**batch).logits
    manifest_file = tmp_path / "base_model_manifest.json"
    manifest_file.write_text(json.dumps(tiny_whisper_manifest.to_mapping()))
    dataset = PeftAdapterDataset(
        path=str(tmp_path / "adapter"), base_model_manifest=str(manifest_file)
    )
    dataset.save(trained)
    reloaded = dataset.load()
    reloaded.eval()
    with torch.no_grad():
        after = reloaded(**batch).logits
    torch.testing.assert_close(after, before)
    with torch.no_grad(), reloaded.disable_adapter():
        assert not torch.allclose(
            reloaded(**batch).logits, before
        )  # the adapter did change the model


def test_sizing_on_the_meta_device_is_computed_from_the_config(
    lora_config, tiny_whisper_architecture
):
    special = {"pad_token_id": 1, "bos_token_id": 1, "eos_token_id": 1, "decoder_start_token_id": 2}
    config = WhisperConfig(vocab_size=1000, num_mel_bins=80, **special, **tiny_whisper_architecture)
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    summary = size_on_meta(model, lora_config, "int8")
    base_total = sum(p.numel() for p in WhisperForConditionalGeneration(config).parameters())
    lora = _lora_parameter_count(config, lora_config["target_modules"], lora_config["r"])
    assert summary["parameters"]["trainable"] == lora
    assert summary["parameters"]["total"] == base_total + lora
    memory = summary["memory_estimate"]
    assert (
        memory["adapter_training_state_bytes"] == lora * 16
    )  # float32 weight + gradient + two Adam moments
    assert (
        0 < memory["base_weights_bytes"] < base_total * 4
    )  # int8 linears are smaller than float32


def test_full_scale_sizing_reproduces_the_seed_notebooks_printed_count(capsys, monkeypatch):
    from peft_pipelines.cli import size_main  # noqa: PLC0415

    monkeypatch.chdir(
        PROJECT_ROOT
    )  # the shipped architecture config is named relative to the project
    assert size_main(["--env", "full", "--conf-source", str(PROJECT_ROOT / "conf")]) == 0
    assert "trainable 1,966,080 of 1,545,271,040 (0.1272 %)" in capsys.readouterr().out


def test_the_time_budget_stops_training_after_the_step_that_crosses_it_and_a_longer_rerun_extends_it(
    tiny_whisper_manifest, bundled_features, tmp_path, lora_config
):
    training = {
        "max_steps": 50,
        "save_strategy": "steps",
        "save_steps": 50,
        "logging_steps": 1,
        "time_budget_minutes": 1e-6,  # crossed by the first step
    }
    _, _, log = _train(tiny_whisper_manifest, bundled_features, lora_config, training, tmp_path)
    assert log["stopped_by_time_budget"] is True
    assert log["global_step"] == 1
    assert (tmp_path / "checkpoints" / "checkpoint-1" / "trainer_state.json").is_file()

    # More steps and no budget: the same run goes on from checkpoint-1 instead of starting afresh.
    longer = {**training, "max_steps": 3, "time_budget_minutes": None}
    _, _, log = _train(tiny_whisper_manifest, bundled_features, lora_config, longer, tmp_path)
    assert log["resumed_from"] == "checkpoint-1"
    assert log["global_step"] == 3 and log["stopped_by_time_budget"] is False
    assert [entry["step"] for entry in log["log_history"] if "loss" in entry] == [1, 2, 3]


def test_on_the_cpu_int8_layers_evaluate_through_the_dequantizing_path_with_the_same_weights(
    tiny_whisper_manifest, bundled_features
):
    base = load_base_model(tiny_whisper_manifest)
    layer = base.model.encoder.layers[0].self_attn.q_proj
    batch = _collator(base)([bundled_features["train"][i] for i in range(2)])
    base.eval()
    with torch.no_grad():
        hooked = base(**batch).logits
    # The flag bitsandbytes reads to pick its CPU kernel is set at each call, in eval too.
    assert layer.training and not base.training and not base.model.encoder.training
    for module in base.modules():
        if isinstance(module, bnb.nn.Linear8bitLt):
            module._forward_pre_hooks.clear()
    base.eval()
    with torch.no_grad():
        quantizing = base(**batch).logits
    assert not layer.training
    # Same int8 weights; only the int8 quantization of the activations differs.
    assert torch.allclose(hooked, quantizing, atol=0.05 * quantizing.abs().max().item())


def test_a_versioned_adapter_keeps_every_save_and_loads_the_latest(
    tiny_whisper_manifest, tmp_path, lora_config
):
    from kedro.io import DatasetError, Version  # noqa: PLC0415

    manifest_file = tmp_path / "base_model_manifest.json"
    manifest_file.write_text(json.dumps(tiny_whisper_manifest.to_mapping()))

    def dataset() -> PeftAdapterDataset:
        return PeftAdapterDataset(
            path=str(tmp_path / "adapter"),
            base_model_manifest=str(manifest_file),
            version=Version(None, None),
        )

    for rank in (2, 3):
        model, _ = wrap_with_peft(
            load_base_model(tiny_whisper_manifest), {**lora_config, "r": rank}
        )
        dataset().save(model)
    versions = sorted((tmp_path / "adapter").glob("*/adapter"))
    assert [json.loads((v / "adapter_config.json").read_text())["r"] for v in versions] == [2, 3]
    assert dataset().resolved_path() == versions[-1]
    assert dataset().load().peft_config["default"].r == 3

    # An adapter is never filed under a manifest describing another base.
    other_base = replace(tiny_whisper_manifest, name_or_path=str(tmp_path))
    manifest_file.write_text(json.dumps(other_base.to_mapping()))
    with pytest.raises(DatasetError, match="describes"):
        dataset().save(model)
