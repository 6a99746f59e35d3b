"""How far each adapter moves its base's weights: the merged model against the base, matrix by matrix.

A proxy for forgetting where no recordings of other speech are at hand: an
adapter that reaches the same error rate with a smaller change to the weights
leaves more of the pretrained model as it was. Each adapter is merged into its
base loaded in float32 (the export stages' ``merge_adapter``) and compared with
that base: the relative Frobenius change ``||W' - W|| / ||W||`` over every
weight the adapter changed (pooled), the largest of any one matrix, and how
many matrices changed. The base itself gives 0 (the baseline line).

    python -m benchmarks.adapter_movement ADAPTER_FOLDER [ADAPTER_FOLDER ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from peft_pipelines.io.model_datasets import MANIFEST_FILE, load_adapter, read_manifest
from peft_pipelines.io.model_loading import load_base_model
from peft_pipelines.training.export import merge_adapter, unquantized


def movement(adapter_folder: Path) -> dict[str, float]:
    """Pooled and largest relative change of the weights the adapter changes, and how many it changes."""
    manifest = read_manifest(adapter_folder / MANIFEST_FILE)
    merged = merge_adapter(load_adapter(adapter_folder), manifest).model.state_dict()
    base = load_base_model(unquantized(manifest)).state_dict()
    changed_sq = base_sq = 0.0
    largest, matrices = 0.0, 0
    for name, weight in base.items():
        if name not in merged or weight.dtype not in (torch.float32, torch.float16):
            continue
        delta = float(torch.linalg.vector_norm(merged[name].float() - weight.float()))
        if delta == 0.0:
            continue
        norm = float(torch.linalg.vector_norm(weight.float()))
        changed_sq, base_sq = changed_sq + delta**2, base_sq + norm**2
        largest, matrices = max(largest, delta / norm), matrices + 1
    pooled = (changed_sq / base_sq) ** 0.5 if base_sq else 0.0
    return {"pooled": pooled, "largest": largest, "matrices": matrices}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("adapters", nargs="+", type=Path)
    args = parser.parse_args()
    print("base (no adapter): pooled change 0, largest 0, 0 matrices changed")
    for folder in args.adapters:
        figures = movement(folder)
        print(
            f"{folder}: pooled change {figures['pooled']:.4f}, largest {figures['largest']:.4f}, "
            f"{figures['matrices']} matrices changed"
        )


if __name__ == "__main__":
    main()
