"""``whisper_zh`` pipeline: the Common Voice-format corpus to Whisper-ready features.

Every node and dataset lives in the ``whisper_zh`` namespace, so node names
read ``whisper_zh.resample_to_16k`` and parameters ``params:whisper_zh.*``.
"""

from kedro.pipeline import Node, Pipeline

from peft_pipelines.pipelines.whisper_zh.nodes import (
    extract_features_and_labels,
    ingest_corpus,
    prune_columns,
    report_data_quality,
    resample_to_16k,
)


def create_pipeline(**kwargs) -> Pipeline:
    data_stages = [
        Node(
            func=ingest_corpus,
            inputs="params:corpus",
            outputs=["corpus_raw", "ingest_report"],
            name="ingest_corpus",
        ),
        Node(
            func=prune_columns,
            inputs=["corpus_raw", "params:keep_columns"],
            outputs=["corpus_pruned", "prune_report"],
            name="prune_columns",
        ),
        Node(
            func=resample_to_16k,
            inputs=["corpus_pruned", "params:audio"],
            outputs=["corpus_16k", "resample_report"],
            name="resample_to_16k",
        ),
        Node(
            func=extract_features_and_labels,
            inputs=["corpus_16k", "params:model", "params:features"],
            outputs=["features", "features_report"],
            name="extract_features_and_labels",
        ),
        Node(
            func=report_data_quality,
            inputs=[
                "params:corpus",
                "ingest_report",
                "prune_report",
                "resample_report",
                "features_report",
            ],
            outputs="data_quality",
            name="report_data_quality",
        ),
    ]
    return Pipeline(data_stages, namespace="whisper_zh")
