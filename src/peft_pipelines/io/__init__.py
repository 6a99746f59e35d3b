"""Catalog dataset classes of our own (used only where kedro-datasets has none)."""

from peft_pipelines.io.atomic_arrow_dataset import AtomicArrowDataset
from peft_pipelines.io.model_datasets import (
    BaseModelDataset,
    PeftAdapterDataset,
    TokenizerDataset,
)

__all__ = [
    "AtomicArrowDataset",
    "BaseModelDataset",
    "PeftAdapterDataset",
    "TokenizerDataset",
]
