"""``opt_quotes`` pipeline: quotes -> held-out split -> tokens -> 8-bit base + LoRA -> Trainer -> perplexity.

Every node and dataset lives in the ``opt_quotes`` namespace (node names read
``opt_quotes.train_adapter``, parameters ``params:opt_quotes.*``). The base
model, the PEFT wrapping and the training wiring are the training core's
modular pipelines, the same ones ``whisper_zh`` uses. Tags: ``data``, ``model``, ``report``,
``export`` (merged model, CTranslate2 copies, the export's parity report).
``opt_quotes_lab`` (:func:`create_lab_pipeline`, registered with the variants of
conf/*/parameters_peft_lab.yml) trains one copy of the model stages per PEFT
variant on the same tokens and compares them.
"""

from kedro.pipeline import Node, Pipeline

from peft_pipelines.pipelines.opt_quotes.nodes import (
    check_export_parity,
    compare_variants,
    evaluate_perplexity,
    generate_samples,
    ingest_quotes,
    prepare_tokenizer,
    split_heldout,
    tokenize_quotes,
    train_adapter,
)
from peft_pipelines.plots import lab_front_figure, loss_curve_figure, perplexity_figure, titled
from peft_pipelines.training.pipeline import (
    assemble_lab_pipeline,
    bound,
    create_adapter_training_pipeline,
    create_export_pipeline,
    create_parity_pipeline,
)


def create_data_pipeline() -> Pipeline:
    """Quotes -> held-out split -> tokens."""
    return Pipeline(
        [
            Node(ingest_quotes, "quotes_source", ["quotes", "ingest_report"], name="ingest_quotes"),
            Node(
                split_heldout,
                ["quotes", "params:split"],
                ["quote_splits", "split_report"],
                name="split_heldout",
            ),
            Node(
                tokenize_quotes,
                ["quote_splits", "tokenizer", "params:tokenize"],
                ["tokens", "tokenize_report"],
                name="tokenize_quotes",
            ),
        ],
        tags="data",
    )


def create_model_pipeline(peft: str = "params:peft", training: str = "params:training") -> Pipeline:
    """Base model (8-bit) -> PEFT adapter -> Trainer -> perplexity before and after, samples.

    ``peft`` and ``training`` name the settings: the parameters, or a lab variant's datasets.
    """
    return Pipeline(
        [
            Node(prepare_tokenizer, "base_model_manifest", "tokenizer", name="prepare_tokenizer"),
            create_adapter_training_pipeline(
                train_adapter, ["tokens", "tokenizer", "params:evaluation"], peft, training
            ),
            Node(
                evaluate_perplexity,
                [
                    "adapter",
                    "base_model_manifest",
                    "tokens",
                    "tokenizer",
                    "params:evaluation",
                    peft,
                ],
                "metrics",
                name="evaluate_perplexity",
            ),
            Node(
                generate_samples,
                ["adapter", "base_model_manifest", "tokenizer", "params:generation"],
                "generations",
                name="generate_samples",
            ),
        ],
        tags="model",
    )


def create_report_pipeline() -> Pipeline:
    """The loss curve and the perplexity chart."""
    return Pipeline(
        [
            Node(
                titled(loss_curve_figure, "opt_quotes"),
                "training_log",
                "loss_curve_plot",
                name="plot_loss_curve",
            ),
            Node(
                titled(perplexity_figure, "opt_quotes"),
                "metrics",
                "perplexity_plot",
                name="plot_perplexity",
            ),
        ],
        tags="report",
    )


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            create_data_pipeline(),
            create_model_pipeline(),
            create_report_pipeline(),
            create_export_pipeline(),
            create_parity_pipeline(
                check_export_parity,
                [
                    "adapter",
                    "merged_model",
                    "ctranslate2_model",
                    "tokens",
                    "tokenizer",
                    "params:evaluation",
                    "params:generation",
                    "params:export",
                ],
            ),
        ],
        namespace="opt_quotes",
    )


def create_lab_pipeline(variants: list[str]) -> Pipeline:
    """``opt_quotes_lab``: the data stages once, the model stages once per PEFT variant, their comparison.

    No export stages: a variant worth serving is made the pipeline's own
    settings and exported by ``opt_quotes``.
    """
    return assemble_lab_pipeline(
        "opt_quotes",
        data_stages=create_data_pipeline(),
        model_stages=create_model_pipeline(peft="peft", training="training"),
        variants=variants,
        compare_variants=compare_variants,
        plot_comparison=bound(lab_front_figure, figures=["perplexity"]),
    )
