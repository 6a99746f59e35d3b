"""``whisper_zh`` pipeline: a Common Voice-format corpus to a LoRA adapter and its CER/WER.

Every node and dataset lives in the ``whisper_zh`` namespace, so node names
read ``whisper_zh.resample_to_16k`` and parameters ``params:whisper_zh.*``.
"""

from kedro.pipeline import Node, Pipeline

from peft_pipelines.pipelines.whisper_zh.model_nodes import (
    describe_base_model,
    evaluate_transcription,
    train_adapter,
)
from peft_pipelines.pipelines.whisper_zh.nodes import (
    extract_features_and_labels,
    ingest_corpus,
    join_long_utterances,
    prune_columns,
    read_input_window,
    report_data_quality,
    resample_to_16k,
)
from peft_pipelines.plots import error_rate_figure, loss_curve_figure, titled
from peft_pipelines.training.pipeline import create_adapter_training_pipeline


def create_audio_features_pipeline(corpus: str) -> Pipeline:
    """``corpus`` (audio bytes + sentences) -> 16 kHz -> log-mel features and labels, within ``input_window``.

    Declared as its own sub-pipeline so another corpus can reuse the audio stages
    through ``pipeline(..., inputs=...)``.
    """
    return Pipeline(
        [
            Node(
                resample_to_16k,
                [corpus, "params:audio", "input_window"],
                ["corpus_16k", "resample_report"],
                name="resample_to_16k",
            ),
            Node(
                extract_features_and_labels,
                ["corpus_16k", "params:model", "params:features", "input_window"],
                ["features", "features_report"],
                name="extract_features_and_labels",
            ),
        ]
    )


def create_data_pipeline() -> Pipeline:
    """Corpus -> pruned -> 16 kHz -> features and labels, and the data-quality report.

    The clip-length limit and the feature length are the base model's input
    window, read from its config by ``read_input_window``.
    """
    return Pipeline(
        [
            Node(
                read_input_window,
                ["params:base_model", "params:model"],
                "input_window",
                name="read_input_window",
            ),
            Node(
                ingest_corpus,
                "params:corpus",
                ["corpus_raw", "ingest_report"],
                name="ingest_corpus",
            ),
            Node(
                prune_columns,
                ["corpus_raw", "params:keep_columns"],
                ["corpus_pruned", "prune_report"],
                name="prune_columns",
            ),
            create_audio_features_pipeline("corpus_pruned"),
            Node(
                join_long_utterances,
                ["corpus_16k", "params:long_utterances"],
                "long_utterances",
                name="join_long_utterances",
            ),
            Node(
                report_data_quality,
                [
                    "params:corpus",
                    "ingest_report",
                    "prune_report",
                    "resample_report",
                    "features_report",
                ],
                "data_quality",
                name="report_data_quality",
            ),
        ]
    )


def create_model_pipeline() -> Pipeline:
    """Base model (8-bit) -> PEFT adapter -> Seq2SeqTrainer -> CER/WER before and after."""
    return Pipeline(
        [
            Node(
                describe_base_model,
                ["params:base_model", "params:model"],
                "base_model",
                name="describe_base_model",
            ),
            create_adapter_training_pipeline(train_adapter, ["features"]),
            Node(
                evaluate_transcription,
                [
                    "adapter",
                    "features",
                    "long_utterances",
                    "params:model",
                    "params:evaluation",
                    "params:peft",
                ],
                ["metrics", "predictions"],
                name="evaluate_transcription",
            ),
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
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([create_data_pipeline(), create_model_pipeline()], namespace="whisper_zh")
