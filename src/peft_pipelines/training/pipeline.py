"""The modular pipelines every fine-tuning pipeline shares: base-model manifest, PEFT wrapping, training; export.

Each pipeline brings its own ``train_adapter`` node function (its data columns,
collator and evaluation set differ) built on :func:`~peft_pipelines.training.nodes.fit_adapter`;
the wiring around it (dataset names, outputs, node names, tags) is the same,
and is written once here.
"""

from collections.abc import Callable

from kedro.pipeline import Node, Pipeline

from peft_pipelines.training.export import (
    export_base_ctranslate2,
    export_ctranslate2,
    merge_adapter,
    record_export_verdict,
    require_export_parity,
)
from peft_pipelines.training.nodes import add_peft_adapter, describe_base_model


def create_adapter_training_pipeline(train_adapter: Callable, data_inputs: list[str]) -> Pipeline:
    """``pretrained_model`` -> ``base_model_manifest`` -> ``peft_model`` -> ``adapter``, ``training_log``.

    ``train_adapter`` takes the untrained adapter, the manifest, then
    ``data_inputs`` (dataset and parameter names), then ``params:training`` and
    ``params:peft``. Every node is tagged ``model``.
    """
    return Pipeline(
        [
            Node(
                describe_base_model,
                ["pretrained_model", "params:base_model"],
                "base_model_manifest",
                name="describe_base_model",
            ),
            Node(
                add_peft_adapter,
                ["base_model_manifest", "params:peft"],
                ["peft_model", "peft_summary"],
                name="add_peft_adapter",
            ),
            Node(
                train_adapter,
                [
                    "peft_model",
                    "base_model_manifest",
                    *data_inputs,
                    "params:training",
                    "params:peft",
                ],
                ["adapter", "training_log"],
                name="train_adapter",
            ),
        ],
        tags="model",
    )


def create_export_pipeline() -> Pipeline:
    """``adapter`` -> ``merged_model`` -> ``ctranslate2_model``; the base -> ``base_ctranslate2_model``.

    The adapter merged into its unquantized base, that merged folder converted
    by CTranslate2, and the unmerged base on the same engine for comparison.
    Every node is tagged ``export``; a pipeline adds its own parity check.
    """
    return Pipeline(
        [
            Node(
                merge_adapter,
                ["adapter", "base_model_manifest"],
                "merged_model",
                name="merge_adapter",
            ),
            Node(
                export_ctranslate2,
                ["merged_model", "params:export"],
                "ctranslate2_model",
                name="export_ctranslate2",
            ),
            Node(
                export_base_ctranslate2,
                ["pretrained_model", "base_model_manifest", "params:export"],
                "base_ctranslate2_model",
                name="export_base_ctranslate2",
            ),
        ],
        tags="export",
    )


def create_parity_pipeline(check_export_parity: Callable, inputs: list[str]) -> Pipeline:
    """``check_export_parity(*inputs)`` -> ``export_report`` -> ``export_verdict``, then the stop; tagged ``export``.

    The stop (:func:`~peft_pipelines.training.export.require_export_parity`)
    is a node of its own, so that a failing export's report and verdict are
    saved before the run ends with its one line; the verdict, versioned as the
    export, keeps the CLI and the demo from serving a failed export by default.
    """
    return Pipeline(
        [
            Node(check_export_parity, inputs, "export_report", name="check_export_parity"),
            Node(
                record_export_verdict,
                "export_report",
                "export_verdict",
                name="record_export_verdict",
            ),
            Node(require_export_parity, "export_verdict", None, name="require_export_parity"),
        ],
        tags="export",
    )
