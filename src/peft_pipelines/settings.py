"""Project settings: Kedro defaults, plus conf/full as a ready full-scale environment.

``kedro run`` uses ``conf/base`` (the offline default) overlaid by ``conf/local``;
``kedro run --env full`` overlays ``conf/full`` (whisper-large-v2, a downloaded
Common Voice release, a CUDA GPU) instead.

Experiment tracking: the MlflowTracking hook, set up by conf/*/mlflow.yml.
"""

from kedro.config import OmegaConfigLoader

from peft_pipelines.hooks import (
    CorpusLocationCheck,
    MlflowTracking,
    PackagedModelCheck,
    RankZeroWrites,
    RunSummary,
)

HOOKS = (
    CorpusLocationCheck(),
    PackagedModelCheck(),
    RankZeroWrites(),
    MlflowTracking(),
    RunSummary(),
)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"]},
}
