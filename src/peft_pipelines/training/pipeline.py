"""The modular pipelines every fine-tuning pipeline shares: base-model manifest, PEFT wrapping, training; export.

Each pipeline brings its own ``train_adapter`` node function (its data columns,
collator and evaluation set differ) built on :func:`~peft_pipelines.training.nodes.fit_adapter`;
the wiring around it (dataset names, outputs, node names, tags) is the same,
and is written once here.
"""

from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline

from peft_pipelines.training.export import (
    export_base_ctranslate2,
    export_ctranslate2,
    merge_adapter,
    record_export_verdict,
    require_export_parity,
)
from peft_pipelines.training.lab import REPORT_KINDS, check_variant_name, variant_settings
from peft_pipelines.training.nodes import add_peft_adapter, describe_base_model

# The inputs of the model stages that a lab variant replaces with its own.
VARIANT_SETTINGS = ("peft", "training")


def bound(function: Callable, **settings: Any) -> Callable:
    """``function`` with ``settings`` bound, keeping its name and docstring (Kedro and Kedro-Viz show them)."""
    return update_wrapper(partial(function, **settings), function)


def create_adapter_training_pipeline(
    train_adapter: Callable,
    data_inputs: list[str],
    peft: str = "params:peft",
    training: str = "params:training",
) -> Pipeline:
    """``pretrained_model`` -> ``base_model_manifest`` -> ``peft_model`` -> ``adapter``, ``training_log``.

    ``train_adapter`` takes the untrained adapter, the manifest, then
    ``data_inputs`` (dataset and parameter names), then the training and PEFT
    settings: ``params:training`` and ``params:peft``, or the datasets a lab
    variant resolves (``peft``, ``training``). Every node is tagged ``model``.
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
                ["base_model_manifest", peft],
                ["peft_model", "peft_summary"],
                name="add_peft_adapter",
            ),
            Node(
                train_adapter,
                [
                    "peft_model",
                    "base_model_manifest",
                    *data_inputs,
                    training,
                    peft,
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


def _variant_pipeline(pipeline: str, name: str, model_stages: Pipeline) -> Pipeline:
    """One variant's copy of the model stages, namespace ``<pipeline>_lab.<name>``.

    Its ``peft`` and ``training`` come from :func:`variant_settings` (the
    pipeline's own and ``params:peft_lab.<pipeline>.variants.<name>``); every
    other free input, dataset or parameter, is the pipeline's own
    (``features`` -> ``<pipeline>.features``): a new input of the model stages
    reaches every variant without a change here.
    """
    resolve = Node(
        bound(variant_settings, pipeline=pipeline, name=name),
        [
            "params:peft",
            "params:training",
            "params:base_model",
            "params:variant",
            "params:max_steps",
            "params:checkpoints",
        ],
        list(VARIANT_SETTINGS),
        name="resolve_variant_settings",
    )
    stages = Pipeline([resolve, model_stages])
    lab_parameters = {
        "params:variant": f"params:peft_lab.{pipeline}.variants.{name}",
        "params:max_steps": "params:peft_lab.max_steps",
        "params:checkpoints": "params:peft_lab.checkpoints",
    }
    free = stages.inputs()
    return Pipeline(
        stages,
        inputs={item: f"{pipeline}.{item}" for item in free if not item.startswith("params:")},
        parameters={
            item: lab_parameters.get(item, f"params:{pipeline}.{item.removeprefix('params:')}")
            for item in free
            if item.startswith("params:")
        },
        namespace=f"{pipeline}_lab.{name}",
        tags=["lab"],
    )


def assemble_lab_pipeline(
    pipeline: str,
    *,
    data_stages: Pipeline,
    model_stages: Pipeline,
    variants: list[str],
    compare_variants: Callable,
    plot_comparison: Callable,
) -> Pipeline:
    """``<pipeline>_lab``: the data stages once, one copy of the model stages per variant, the comparison.

    ``model_stages`` is the pipeline's model pipeline built on the datasets
    ``peft`` and ``training`` instead of its parameters. Its stages that do not
    depend on them (the base-model manifest, a tokenizer the data stages
    need) run once, beside the data stages, under the pipeline's own names, so
    the lab reuses what a run of the pipeline saved (the incremental runner
    skips them while fresh). Then the comparison (namespace ``<pipeline>_lab``):
    ``compare_variants(*reports, variants=...)`` on every variant's reports
    (:func:`variant_reports`) -> ``comparison``, ``comparison_table``; and
    ``plot_comparison(comparison)`` -> ``comparison_plot``.
    """
    for name in variants:
        check_variant_name(pipeline, name)
    per_variant = model_stages.from_inputs(*VARIANT_SETTINGS)
    shared = Pipeline([data_stages, model_stages - per_variant], namespace=pipeline)
    copies = [_variant_pipeline(pipeline, name, per_variant) for name in variants]
    compare = Pipeline(
        _comparison_stages(variants, compare_variants, plot_comparison),
        inputs={
            local: f"{pipeline}_lab.{local.replace('__', '.')}"
            for local in variant_reports(variants)
        },
        namespace=f"{pipeline}_lab",
        tags=["lab"],
    )
    return Pipeline([shared, *copies, compare])


def _comparison_stages(
    variants: list[str], compare_variants: Callable, plot_comparison: Callable
) -> Pipeline:
    return Pipeline(
        [
            Node(
                bound(compare_variants, variants=list(variants)),
                variant_reports(variants),
                ["comparison", "comparison_table"],
                name="compare_variants",
            ),
            Node(plot_comparison, "comparison", "comparison_plot", name="plot_comparison"),
        ]
    )


def variant_reports(variants: list[str]) -> list[str]:
    """The inputs of a lab's comparison, per variant in order (see :func:`~peft_pipelines.training.lab.comparison`).

    Local names (``<variant>__<kind>``); :func:`assemble_lab_pipeline` maps
    them to the variants' datasets (``<pipeline>_lab.<variant>.<kind>``).
    """
    return [f"{name}__{kind}" for name in variants for kind in REPORT_KINDS]
