"""The demo-base pipeline's stages on a handful of clips: sentences, speech, a few pretraining steps, the saved folder."""

from __future__ import annotations

import json
import shutil
import sys
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.framework.startup import bootstrap_project

from peft_pipelines.io import WhisperFolderDataset
from peft_pipelines.pipeline_registry import register_pipelines
from peft_pipelines.pipelines.whisper_demo_base.nodes import (
    evaluate_demo_base,
    generate_pretraining_sentences,
    package_demo_base,
    pretrain_whisper,
    synthesise_speech,
)
from peft_pipelines.speech.collator import input_window
from tests.conftest import BUNDLED_CORPUS, PROCESSOR_DIR, PROJECT_ROOT, TINY_ARCHITECTURE, read_tsv

PARAMETERS = yaml.safe_load(
    (PROJECT_ROOT / "conf/base/parameters_whisper_demo_base.yml").read_text()
)["whisper_demo_base"]
MODEL = {"processor": str(PROCESSOR_DIR), "language": "zh", "task": "transcribe"}


def _corpus_tsvs() -> dict:
    """The bundled corpus's TSVs as the catalog's PartitionedDataset hands them over (name -> loader)."""
    return {
        path.stem: partial(pd.read_csv, path, sep="\t", quoting=3, dtype=str)
        for path in BUNDLED_CORPUS.glob("*.tsv")
    }


def test_pretraining_sentences_are_deterministic_split_disjoint_and_never_a_corpus_sentence():
    params = {"seed": 0, "counts": {"train": 300, "dev": 20, "test": 30}}
    first = generate_pretraining_sentences(_corpus_tsvs(), {}, params)
    assert first == generate_pretraining_sentences(_corpus_tsvs(), {}, params)
    assert {s: len(first[s]) for s in ("train", "dev", "test")} == params["counts"]
    corpus = {
        r["sentence"]
        for split in ("train", "dev", "test")
        for r in read_tsv(BUNDLED_CORPUS / f"{split}.tsv")
    }
    assert first["excluded_corpus_sentences"] == len(corpus) == 150
    drawn = first["train"] + first["dev"] + first["test"]
    assert len(set(drawn)) == len(drawn)
    assert not set(drawn) & corpus
    other_seed = generate_pretraining_sentences(_corpus_tsvs(), {}, {**params, "seed": 1})
    assert other_seed["train"] != first["train"]


def test_a_continued_run_keeps_the_earlier_held_out_sentences_out_of_train():
    earlier = json.loads(
        (PROJECT_ROOT / "data/01_raw/demo_base_heldout_sentences.json").read_text()
    )
    params = {"seed": 3, "counts": {"train": 2000, "dev": 0, "test": 0}, "reuse_heldout": True}
    drawn = generate_pretraining_sentences(_corpus_tsvs(), earlier, params)
    assert drawn["dev"] == earlier["dev"] and drawn["test"] == earlier["test"]
    assert len(drawn["train"]) == 2000
    assert not set(drawn["train"]) & (set(earlier["dev"]) | set(earlier["test"]))
    # Without the reuse the same seed does draw some of them into train.
    fresh = generate_pretraining_sentences(
        _corpus_tsvs(), earlier, {**params, "reuse_heldout": False}
    )
    assert set(fresh["train"]) & (set(earlier["dev"]) | set(earlier["test"]))


def test_spliced_train_sentences_replace_a_share_and_stay_off_held_out_and_corpus():
    params = {"seed": 0, "counts": {"train": 400, "dev": 50, "test": 50}, "spliced_share": 0.5}
    drawn = generate_pretraining_sentences(_corpus_tsvs(), {}, params)
    plain = generate_pretraining_sentences(_corpus_tsvs(), {}, {**params, "spliced_share": 0.0})
    assert len(drawn["train"]) == 400 and drawn["spliced_train"] == 200
    assert drawn["train"][:200] == plain["train"][:200]
    spliced = drawn["train"][200:]
    assert not set(spliced) & set(plain["train"])  # new sentences, not template ones
    corpus = {s for load in _corpus_tsvs().values() for s in load()["sentence"]}
    assert not set(drawn["train"]) & (set(drawn["dev"]) | set(drawn["test"]) | corpus)
    with pytest.raises(ValueError, match="spliced_share"):
        generate_pretraining_sentences(_corpus_tsvs(), {}, {**params, "spliced_share": 1.0})


def test_default_config_asks_for_at_least_2500_sentences_in_voices_the_corpus_does_not_use():
    assert sum(PARAMETERS["sentences"]["counts"].values()) >= 2500
    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
    try:
        from make_common_voice_sample import CORPUS_VOICES  # noqa: PLC0415
    finally:
        sys.path.pop(0)
    pretraining = {v["voice"] for v in PARAMETERS["voices"]}
    assert not pretraining & {v["voice"] for v in CORPUS_VOICES}


def test_demo_base_pipeline_is_not_in_the_default_run():
    bootstrap_project(PROJECT_ROOT)
    pipelines = register_pipelines()
    default_nodes = {node.name for node in pipelines["__default__"].nodes}
    assert "whisper_demo_base.pretrain_whisper" in {
        n.name for n in pipelines["whisper_demo_base"].nodes
    }
    assert not any(name.startswith("whisper_demo_base.") for name in default_nodes)
    assert "whisper_zh.train_adapter" in default_nodes


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)
def test_synthesis_speaks_each_sentence_in_the_drawn_number_of_voices():
    pytest.importorskip("pypinyin", reason="pypinyin is not installed (pip install -e '.[assets]')")
    sentences = {
        "train": ["我们明天去公园", "他喜欢喝茶"],
        "dev": ["今天很冷"],
        "test": ["你好吗我很好"],
    }
    corpus, report = synthesise_speech(
        sentences,
        PARAMETERS["voices"][:3],
        {"seed": 0, "clips_per_sentence": {"train": 2, "dev": 1, "test": 1}, "workers": 2},
    )
    assert {s: len(corpus[s]) for s in corpus} == {"train": 4, "dev": 1, "test": 1}
    assert report["dropped"] == []
    train = corpus["train"]
    assert train["sentence"] == ["我们明天去公园"] * 2 + ["他喜欢喝茶"] * 2
    assert len(set(train["voice"][:2])) == 2  # two different voices per train sentence
    assert train[0]["audio"][:4] == b"fLaC"


def test_a_few_pretraining_steps_save_a_loadable_fp16_model_with_a_card(bundled_features, tmp_path):
    training = {
        "output_dir": str(tmp_path / "checkpoints"),
        "seed": 0,
        "max_steps": 3,
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 4,
        "learning_rate": 1e-3,
        "eval_strategy": "steps",
        "eval_steps": 3,
        "save_strategy": "steps",
        "save_steps": 3,
        "logging_steps": 1,
        "time_budget_minutes": 10,
    }
    pretrained, log = pretrain_whisper(bundled_features, MODEL, TINY_ARCHITECTURE, training)
    assert log["global_step"] == 3 and not log["stopped_by_time_budget"]
    assert [e["loss"] for e in log["log_history"] if "loss" in e]  # a loss at every logging step
    assert pretrained["processor"].feature_extractor.nb_max_frames == 500  # the 5 s window

    metrics, predictions = evaluate_demo_base(
        pretrained, bundled_features, MODEL, {"split": "test", "batch_size": 4, "max_new_tokens": 6}
    )
    assert metrics["pretrained"]["n"] == len(predictions) == len(bundled_features["test"])
    assert metrics["pretrained"]["cer"] >= 0

    quality = {"splits": {s: {"kept": len(bundled_features[s])} for s in ("train", "dev", "test")}}
    folder = package_demo_base(
        pretrained, metrics, log, quality, PARAMETERS["voices"], TINY_ARCHITECTURE
    )
    assert f"{metrics['pretrained']['cer']:.1%}" in folder["card"]
    assert "5 s input window" in folder["card"] and "Closed vocabulary" in folder["card"]

    dataset = WhisperFolderDataset(path=str(tmp_path / "demo_base"), save_dtype="float16")
    dataset.save(folder)
    saved = Path(tmp_path / "demo_base")
    assert (saved / "model.safetensors").is_file() and (saved / "README.md").is_file()
    reloaded = dataset.load()
    assert reloaded["card"] == folder["card"]
    assert reloaded["model"].config.max_source_positions == 250
    window = input_window(
        reloaded["model"].config.max_source_positions, reloaded["processor"].feature_extractor
    )
    assert window["frames"] == 500
    # Saved in half precision: the weights are the trained ones, rounded to fp16.
    original = dict(pretrained["model"].named_parameters())["model.encoder.conv1.weight"]
    loaded = dict(reloaded["model"].named_parameters())["model.encoder.conv1.weight"]
    assert (original.detach().half().float() == loaded.detach()).all()

    # Continued pretraining starts from the saved weights (not random ones) and
    # its card carries the earlier card as history.
    continued, continued_log = pretrain_whisper(
        bundled_features,
        {**MODEL, "init_from": str(saved)},
        TINY_ARCHITECTURE,
        {
            **training,
            "output_dir": str(tmp_path / "continued"),
            "max_steps": 1,
            "eval_steps": 1,
            "save_steps": 1,
        },
    )
    assert continued_log["init_from"] == str(saved)
    start = dict(reloaded["model"].named_parameters())["model.encoder.conv1.weight"]
    after_one_step = dict(continued["model"].named_parameters())["model.encoder.conv1.weight"]
    assert (
        after_one_step - start.float()
    ).abs().max() < 0.01  # one small step from the saved weights
    card = package_demo_base(
        continued, metrics, continued_log, quality, PARAMETERS["voices"], TINY_ARCHITECTURE
    )["card"]
    assert f"continued from the model in `{saved}`" in card
    assert (
        "## The model this one continued from" in card and "### whisper-tiny-zh-synthetic" in card
    )


def test_continuing_from_a_model_of_another_shape_is_refused(bundled_features, tmp_path):
    from peft_pipelines.speech.tiny_whisper import build_tiny_whisper  # noqa: PLC0415

    other = build_tiny_whisper(
        str(PROCESSOR_DIR), {**TINY_ARCHITECTURE, "d_model": 64}, 0, str(tmp_path / "other")
    )
    with pytest.raises(ValueError, match="d_model"):
        pretrain_whisper(
            bundled_features,
            {**MODEL, "init_from": str(other)},
            TINY_ARCHITECTURE,
            {"output_dir": str(tmp_path / "checkpoints"), "max_steps": 1},
        )
