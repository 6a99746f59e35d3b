"""The adapter movement benchmark: zero for an adapter that changes nothing, the changed matrices counted."""

from __future__ import annotations

import dataclasses

import pytest
from kedro.io import Version

from benchmarks.adapter_movement import movement
from peft_pipelines.io.model_datasets import BaseModelManifestDataset, PeftAdapterDataset
from tests.support import EXPORT_VERSION, trained_lookalike_adapter


def _saved(root, manifest, adapter):
    manifest_file = root / "base_model_manifest.json"
    BaseModelManifestDataset(filepath=str(manifest_file)).save(manifest)
    PeftAdapterDataset(
        path=str(root / "adapter"),
        base_model_manifest=str(manifest_file),
        version=Version(None, EXPORT_VERSION),
    ).save(adapter)
    return root / "adapter" / EXPORT_VERSION / "adapter"


@pytest.mark.parametrize(("init_lora_weights", "moved"), [(False, True), (True, False)])
def test_a_moving_adapter_is_measured_and_a_fresh_one_is_zero(
    tmp_path, tiny_whisper_manifest, init_lora_weights, moved
):
    manifest = dataclasses.replace(tiny_whisper_manifest, quantization="none")
    adapter = trained_lookalike_adapter(manifest, init_lora_weights=init_lora_weights)
    figures = movement(_saved(tmp_path, manifest, adapter))
    if moved:
        # NONZERO_LORA: q_proj and v_proj of the tiny model's encoder layer, decoder self-
        # and cross-attention: 6 matrices.
        assert figures["matrices"] == 6 and 0 < figures["largest"]
        assert 0 < figures["pooled"] <= figures["largest"]
    else:  # LoRA's B starts at zero: the merged model is the base
        assert figures == {"pooled": 0.0, "largest": 0.0, "matrices": 0}
