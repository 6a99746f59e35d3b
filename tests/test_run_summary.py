"""The end-of-run line and the MLflow parameter flattening, on hand-made inputs."""

from peft_pipelines.hooks import flatten, headline, numeric_leaves


def test_headline_gives_error_rates_in_percent_and_flags_a_random_base():
    metrics = {
        "base": {"cer": 0.702, "wer": 0.92, "n": 25},
        "finetuned": {"cer": 0.335, "wer": 0.6, "n": 25},
        "split": "test",
        "base_model_random": True,
    }
    assert headline(metrics) == (
        "CER 70.2% -> 33.5%, WER 92.0% -> 60.0% (test, n=25; RANDOM-WEIGHT BASE)"
    )


def test_headline_adds_the_long_utterance_cer_when_there_is_one():
    metrics = {
        "base": {"cer": 0.5, "wer": 1.32, "n": 25},
        "finetuned": {"cer": 0.122, "wer": 0.48, "n": 25},
        "long_utterances": {"base": {"cer": 0.481, "n": 5}, "finetuned": {"cer": 0.4, "n": 5}},
        "split": "test",
        "base_model_random": False,
    }
    assert headline(metrics) == (
        "CER 50.0% -> 12.2%, WER 132.0% -> 48.0% (test, n=25); "
        "long utterances CER 48.1% -> 40.0% (n=5)"
    )


def test_headline_gives_perplexity():
    perplexity = {
        "base": {"perplexity": 75.517, "n": 80},
        "finetuned": {"perplexity": 56.31, "n": 80},
        "split": "heldout",
        "base_model_random": False,
    }
    assert headline(perplexity) == "perplexity 75.52 -> 56.31 (heldout, n=80)"


def test_parameters_flatten_to_dotted_names_and_metrics_keep_only_numbers():
    peft = {"r": 4, "target_modules": ["q_proj", "v_proj"], "extra": {}}
    assert flatten(peft, "whisper_zh.peft") == {
        "whisper_zh.peft.r": 4,
        "whisper_zh.peft.target_modules": ["q_proj", "v_proj"],
        "whisper_zh.peft.extra": {},
    }
    leaves = numeric_leaves({"base": {"cer": 0.5, "n": 4}, "note": "x", "base_model_random": True})
    assert leaves == {"base.cer": 0.5, "base.n": 4.0}
