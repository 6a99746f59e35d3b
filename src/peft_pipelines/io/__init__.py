"""Storage: the catalog's own dataset classes (only where kedro-datasets has none), model loading, packaged files.

The bottom layer with ``data_quality`` and ``distributed``: it imports nothing
else of this package.
"""

from peft_pipelines.io.atomic_arrow_dataset import AtomicArrowDataset
from peft_pipelines.io.common_voice import CommonVoiceReleaseDataset, HFAudioCorpusDataset
from peft_pipelines.io.exported_models import CTranslate2ModelDataset, MergedModelDataset
from peft_pipelines.io.guard_recordings import GuardRecordingsDataset
from peft_pipelines.io.kept_in_memory import KeptInMemoryDataset
from peft_pipelines.io.model_datasets import (
    BaseModelManifestDataset,
    PeftAdapterDataset,
    PretrainedModelDataset,
    PretrainedProcessorDataset,
)

__all__ = [
    "AtomicArrowDataset",
    "BaseModelManifestDataset",
    "CTranslate2ModelDataset",
    "CommonVoiceReleaseDataset",
    "GuardRecordingsDataset",
    "HFAudioCorpusDataset",
    "KeptInMemoryDataset",
    "MergedModelDataset",
    "PeftAdapterDataset",
    "PretrainedModelDataset",
    "PretrainedProcessorDataset",
]
