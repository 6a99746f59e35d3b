"""The audio-features sub-pipeline any speech pipeline reuses: clips -> 16 kHz -> log-mel features and labels.

A pipeline wires it in with Kedro's remapping, naming its own datasets::

    pipeline(
        create_audio_features_pipeline(),
        inputs={"corpus": "corpus_pruned", "processor": "processor", "input_window": "input_window"},
        outputs={"corpus_16k": "corpus_16k", "features": "features", ...},
        parameters={"params:audio": "params:audio", ...},
        namespace="audio_features",
    )
"""

from kedro.pipeline import Node, Pipeline, pipeline

from peft_pipelines.speech.nodes import extract_features_and_labels, resample_to_16k

INPUTS = ("corpus", "processor", "input_window")
OUTPUTS = ("corpus_16k", "resample_report", "features", "features_report")
PARAMETERS = ("params:audio", "params:model", "params:features")


def create_audio_features_pipeline() -> Pipeline:
    """``corpus`` (audio bytes + sentences) -> ``corpus_16k`` -> ``features``, within ``input_window``.

    Each stage also writes its report of dropped rows. Every node is tagged ``data``.
    """
    return Pipeline(
        [
            Node(
                resample_to_16k,
                ["corpus", "params:audio", "input_window"],
                ["corpus_16k", "resample_report"],
                name="resample_to_16k",
            ),
            Node(
                extract_features_and_labels,
                ["corpus_16k", "processor", "params:model", "params:features", "input_window"],
                ["features", "features_report"],
                name="extract_features_and_labels",
            ),
        ],
        tags="data",
    )


def audio_features(corpus: str, namespace: str = "audio_features") -> Pipeline:
    """The sub-pipeline reading ``corpus``; every other input, output and parameter keeps its name."""
    return pipeline(
        create_audio_features_pipeline(),
        inputs={"corpus": corpus, **{name: name for name in INPUTS if name != "corpus"}},
        outputs={name: name for name in OUTPUTS},
        parameters={name: name for name in PARAMETERS},
        namespace=namespace,
    )
