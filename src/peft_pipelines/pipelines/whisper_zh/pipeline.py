"""``whisper_zh`` pipeline: a Common Voice-format corpus to a LoRA adapter and its CER/WER.

Every node and dataset lives in the ``whisper_zh`` namespace, so node names
read ``whisper_zh.train_adapter`` and parameters ``params:whisper_zh.*``.
Tags: ``data`` (corpus to features), ``model`` (base model, adapter,
evaluation), ``report`` (figures), ``export`` (merged model, CTranslate2 copies):
``kedro run --pipelines whisper_zh --tags model`` reruns the model stages on
the saved features. ``whisper_zh_lab`` (:func:`create_lab_pipeline`, registered
with the variants of conf/*/parameters_peft_lab.yml) trains one copy of the
model stages per PEFT variant on the same features and compares them.
"""

from kedro.pipeline import Node, Pipeline

from peft_pipelines.pipelines.whisper_zh.nodes import (
    check_export_parity,
    compare_variants,
    evaluate_transcription,
    ingest_corpus,
    join_long_utterances,
    prune_columns,
    read_input_window,
    report_data_quality,
    train_adapter,
)
from peft_pipelines.plots import error_rate_figure, lab_front_figure, loss_curve_figure, titled
from peft_pipelines.speech.pipeline import audio_features
from peft_pipelines.training.pipeline import (
    assemble_lab_pipeline,
    bound,
    create_adapter_training_pipeline,
    create_export_pipeline,
    create_parity_pipeline,
)

# The figures the lab's chart sets against trainable parameters (a panel each, when present).
LAB_CHART_FIGURES = ["test_cer", "long_cer", "guard_cer"]


def create_data_pipeline() -> Pipeline:
    """Corpus -> pruned -> 16 kHz -> features and labels (the shared audio stages), and the data-quality report."""
    return Pipeline(
        [
            Node(
                read_input_window,
                ["params:base_model", "processor"],
                "input_window",
                name="read_input_window",
            ),
            Node(
                ingest_corpus,
                "corpus_source",
                ["corpus_raw", "ingest_report"],
                name="ingest_corpus",
            ),
            Node(
                prune_columns,
                ["corpus_raw", "params:keep_columns"],
                ["corpus_pruned", "prune_report"],
                name="prune_columns",
            ),
            audio_features("corpus_pruned"),
            Node(
                join_long_utterances,
                ["corpus_16k", "params:long_utterances"],
                "long_utterances",
                name="join_long_utterances",
            ),
            Node(
                report_data_quality,
                ["ingest_report", "prune_report", "resample_report", "features_report"],
                "data_quality",
                name="report_data_quality",
            ),
        ],
        tags="data",
    )


def create_model_pipeline(peft: str = "params:peft", training: str = "params:training") -> Pipeline:
    """Base model (8-bit) -> PEFT adapter -> Seq2SeqTrainer -> CER/WER before and after (and on the guard, if set).

    ``peft`` and ``training`` name the settings: the parameters, or a lab variant's datasets.
    """
    return Pipeline(
        [
            create_adapter_training_pipeline(train_adapter, ["features"], peft, training),
            Node(
                evaluate_transcription,
                [
                    "adapter",
                    "base_model_manifest",
                    "features",
                    "corpus_16k",
                    "long_utterances",
                    "guard_recordings",
                    "processor",
                    "params:model",
                    "params:evaluation",
                    peft,
                ],
                ["metrics", "predictions"],
                name="evaluate_transcription",
            ),
        ],
        tags="model",
    )


def create_report_pipeline() -> Pipeline:
    """The loss curve and the error-rate chart."""
    return Pipeline(
        [
            Node(
                titled(loss_curve_figure, "whisper_zh"),
                "training_log",
                "loss_curve_plot",
                name="plot_loss_curve",
            ),
            Node(
                titled(error_rate_figure, "whisper_zh"),
                "metrics",
                "error_rates_plot",
                name="plot_error_rates",
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
                    "merged_model",
                    "ctranslate2_model",
                    "base_model_manifest",
                    "corpus_16k",
                    "long_utterances",
                    "params:model",
                    "params:evaluation",
                    "params:export",
                ],
            ),
        ],
        namespace="whisper_zh",
    )


def create_lab_pipeline(variants: list[str]) -> Pipeline:
    """``whisper_zh_lab``: the data stages once, the model stages once per PEFT variant, their comparison.

    No export stages: a variant worth serving is made the pipeline's own
    settings and exported by ``whisper_zh``.
    """
    return assemble_lab_pipeline(
        "whisper_zh",
        data_stages=create_data_pipeline(),
        model_stages=create_model_pipeline(peft="peft", training="training"),
        variants=variants,
        compare_variants=compare_variants,
        plot_comparison=bound(lab_front_figure, figures=LAB_CHART_FIGURES),
    )
