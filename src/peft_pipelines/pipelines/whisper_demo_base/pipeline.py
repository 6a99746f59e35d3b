"""``whisper_demo_base`` pipeline: template sentences -> espeak-ng speech -> a tiny Whisper pretrained from scratch.

Not part of ``__default__``: the built model is committed, so ``make run``
needs neither espeak-ng nor the pretraining time. Rebuild it with
``kedro run --pipelines whisper_demo_base``. The resample and feature stages
are ``whisper_zh``'s own nodes (:func:`create_audio_features_pipeline`); the training is the shared core's.
"""

from kedro.pipeline import Node, Pipeline

from peft_pipelines.pipelines.whisper_demo_base.nodes import (
    architecture_window,
    evaluate_demo_base,
    generate_pretraining_sentences,
    package_demo_base,
    pretrain_whisper,
    report_pretraining_data,
    synthesise_speech,
)
from peft_pipelines.pipelines.whisper_zh.pipeline import create_audio_features_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                generate_pretraining_sentences,
                ["corpus_tsvs", "earlier_heldout", "params:sentences"],
                "sentences",
                name="generate_pretraining_sentences",
            ),
            Node(
                synthesise_speech,
                ["sentences", "params:voices", "params:synthesis"],
                ["corpus_raw", "synthesis_report"],
                name="synthesise_speech",
            ),
            Node(
                architecture_window,
                ["params:architecture", "params:model"],
                "input_window",
                name="architecture_window",
            ),
            create_audio_features_pipeline("corpus_raw"),
            Node(
                report_pretraining_data,
                ["synthesis_report", "resample_report", "features_report"],
                "data_quality",
                name="report_pretraining_data",
            ),
            Node(
                pretrain_whisper,
                ["features", "params:model", "params:architecture", "params:training"],
                ["pretrained", "training_log"],
                name="pretrain_whisper",
            ),
            Node(
                evaluate_demo_base,
                ["pretrained", "features", "params:model", "params:evaluation"],
                ["metrics", "predictions"],
                name="evaluate_demo_base",
            ),
            Node(
                package_demo_base,
                [
                    "pretrained",
                    "metrics",
                    "training_log",
                    "data_quality",
                    "params:voices",
                    "params:architecture",
                ],
                "demo_base",
                name="package_demo_base",
            ),
        ],
        namespace="whisper_demo_base",
    )
