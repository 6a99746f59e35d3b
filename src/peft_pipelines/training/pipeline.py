"""The modular pipeline every fine-tuning pipeline shares: PEFT wrapping, then adapter training.

Each pipeline brings its own ``train_adapter`` node function (its data columns,
collator and evaluation set differ) built on :func:`~peft_pipelines.training.nodes.fit_adapter`;
the wiring around it (dataset names, outputs, node names) is the same, and is
written once here.
"""

from collections.abc import Callable

from kedro.pipeline import Node, Pipeline

from peft_pipelines.training.nodes import add_peft_adapter


def create_adapter_training_pipeline(train_adapter: Callable, data_inputs: list[str]) -> Pipeline:
    """``base_model`` -> ``add_peft_adapter`` -> ``train_adapter`` -> ``adapter``, ``training_log``.

    ``train_adapter`` takes the untrained adapter, then ``data_inputs`` (dataset
    and parameter names), then ``params:training`` and ``params:peft``.
    """
    return Pipeline(
        [
            Node(
                add_peft_adapter,
                ["base_model", "params:peft"],
                ["peft_model", "peft_summary"],
                name="add_peft_adapter",
            ),
            Node(
                train_adapter,
                ["peft_model", *data_inputs, "params:training", "params:peft"],
                ["adapter", "training_log"],
                name="train_adapter",
            ),
        ]
    )
