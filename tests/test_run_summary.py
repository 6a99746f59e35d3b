"""The end-of-run line and the MLflow parameter flattening, on hand-made inputs."""

from peft_pipelines.hooks import flatten, guard_tags, headline, numeric_leaves
from peft_pipelines.speech.guard import NO_GUARD


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


def test_headline_says_when_the_guard_got_worse_and_mlflow_tags_it():
    metrics = {
        "base": {"cer": 0.5, "wer": 1.0, "n": 25},
        "finetuned": {"cer": 0.1, "wer": 0.4, "n": 25},
        "guard": {
            "set": True,
            "base": {"cer": 0.21, "wer": 0.6, "n": 40},
            "finetuned": {"cer": 0.25, "wer": 0.7, "n": 40},
            "verdict": "worse",
            "regressed": True,
            "dropped": {"missing_audio": 1, "empty_transcript": 1},
        },
        "split": "test",
    }
    assert headline(metrics).endswith(
        "; guard: CER base 0.21 -> fine-tuned 0.25 (worse), n=40, 2 dropped"
    )
    assert guard_tags(metrics, "whisper_zh") == {"whisper_zh.guard_regressed": "true"}
    # MLflow takes the guard's figures as metrics; the verdict (a bool) is the tag.
    leaves = numeric_leaves(metrics["guard"], "whisper_zh.guard")
    assert leaves["whisper_zh.guard.finetuned.cer"] == 0.25
    assert leaves["whisper_zh.guard.dropped.missing_audio"] == 1.0
    assert "whisper_zh.guard.regressed" not in leaves


def test_without_a_guard_the_headline_is_unchanged_and_the_tag_says_none_was_set():
    metrics = {"base": {"cer": 0.5, "n": 4}, "finetuned": {"cer": 0.4, "n": 4}, "split": "test"}
    assert headline({**metrics, "guard": dict(NO_GUARD)}) == headline(metrics)
    assert "guard" not in headline(metrics)
    tags = guard_tags({**metrics, "guard": dict(NO_GUARD)}, "whisper_zh")
    assert tags["whisper_zh.guard_regressed"].startswith("no guard set")
    assert guard_tags(metrics, "opt_quotes") == {}


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
