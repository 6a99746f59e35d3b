"""Project settings: Kedro defaults, plus conf/full as a ready full-scale environment.

``kedro run`` uses ``conf/base`` (the offline default) overlaid by ``conf/local``;
``kedro run --env full`` overlays ``conf/full`` (whisper-large-v2 and OPT-6.7B
from the Hub, a downloaded Common Voice release, a CUDA GPU) instead. Parameters
merge softly, so an environment holds only the settings it changes (null
removes one); catalog entries replace the base's entry of the same name whole.

Experiment tracking: the MlflowTracking hook, set up by conf/*/mlflow.yml.
"""

from kedro.config import OmegaConfigLoader

from peft_pipelines.fingerprints import FingerprintRecording
from peft_pipelines.hooks import (
    CheckpointLocks,
    InputPreflight,
    MlflowTracking,
    RankZeroWrites,
    RunSummary,
)
from peft_pipelines.parameter_check import ParameterCheck
from peft_pipelines.project import CONFIG_LOADER_ARGS

HOOKS = (
    ParameterCheck(),  # a hook wrapper: before every other hook, whatever their order
    InputPreflight(),
    CheckpointLocks(),
    RankZeroWrites(),
    MlflowTracking(),
    RunSummary(),
    # Last registered, so its before_pipeline_run comes first among the untagged ones: it
    # plans before RankZeroWrites makes other ranks' outputs in-memory (pluggy calls LIFO).
    FingerprintRecording(),
)

CONFIG_LOADER_CLASS = OmegaConfigLoader
__all__ = ["CONFIG_LOADER_ARGS", "CONFIG_LOADER_CLASS", "HOOKS"]
