"""``whisper_demo_base``: pretrain a tiny Whisper from scratch on synthetic Mandarin speech.

No pretrained Whisper can be had offline, so the offline ``whisper_zh`` run
starts from this demo base instead of random weights: template sentences ->
espeak-ng speech in voices the bundled corpus does not use -> the same
resample and feature nodes as ``whisper_zh`` -> a small ``WhisperConfig``
trained from scratch by the shared training core within a wall-clock budget
-> CER on held-out sentences -> an fp16 model folder with a model card.

Its scope is narrow and every report says so: synthetic voices, a closed
vocabulary of template words, a 5 s input window.
"""

from __future__ import annotations

import io
import logging
import os
import random
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from datasets import Dataset, DatasetDict, Features, Value
from tqdm.auto import tqdm
from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

from peft_pipelines.data_quality import record_split, stage_report, summarise_data_quality
from peft_pipelines.pipelines.whisper_zh.nodes import load_whisper_processor
from peft_pipelines.speech.collator import collator_for, input_window
from peft_pipelines.speech.espeak import SynthesisError, Voice, require_espeak, synthesize
from peft_pipelines.speech.metrics import NORMALISER, character_error_rate, word_error_rate
from peft_pipelines.speech.synthetic_sentences import generate_sentences, splice_sentences
from peft_pipelines.speech.tiny_whisper import tiny_whisper_config, whisper_generation_config
from peft_pipelines.speech.transcribe import generate_transcripts
from peft_pipelines.training.fitting import fit_model
from peft_pipelines.training.provenance import git_commit, package_versions

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")


def generate_pretraining_sentences(
    corpus_tsvs: dict[str, Callable[[], pd.DataFrame]],
    earlier_heldout: dict[str, Any],
    sentences: dict[str, Any],
) -> dict[str, Any]:
    """Template sentences for pretraining, split into train/dev/test, none of them in the corpus.

    ``corpus_tsvs`` are the bundled corpus's TSV files (a ``PartitionedDataset``):
    every sentence in any of them is excluded, so the ``whisper_zh`` test split
    is never heard in pretraining. ``sentences["counts"]`` gives the number per
    split; the draw is deterministic for ``sentences["seed"]``.

    With ``sentences["reuse_heldout"]`` the dev and test sentences are those of
    ``earlier_heldout`` (an earlier run's held-out sentences) and are kept out of
    train: a model that continues from that run is then judged, and its best
    checkpoint chosen, on sentences it has never heard.
    """
    excluded: set[str] = set()
    for name, load in sorted(corpus_tsvs.items()):
        table = load()
        if "sentence" not in table.columns:
            raise ValueError(f"corpus file {name} has no sentence column: {list(table.columns)}")
        excluded.update(str(s).strip() for s in table["sentence"].dropna())
    counts = {split: int(sentences["counts"][split]) for split in SPLITS}
    # Checked before the (slow) draw, so a typo fails at once.
    spliced_share = float(sentences.get("spliced_share") or 0.0)
    if not 0.0 <= spliced_share < 1.0:
        raise ValueError(f"sentences.spliced_share must be in [0, 1), got {spliced_share}")
    result: dict[str, Any] = {"excluded_corpus_sentences": len(excluded)}
    if sentences.get("reuse_heldout"):
        heldout = {split: list(earlier_heldout[split]) for split in ("dev", "test")}
        leaked = excluded.intersection(*heldout.values())
        if leaked:
            raise ValueError(f"earlier held-out sentences are corpus sentences: {sorted(leaked)}")
        drawn = generate_sentences(
            counts["train"],
            int(sentences["seed"]),
            excluded | set(heldout["dev"]) | set(heldout["test"]),
        )
        result |= {"train": drawn, **heldout, "heldout_reused": True}
    else:
        drawn = generate_sentences(sum(counts.values()), int(sentences["seed"]), excluded)
        start = 0
        for split in SPLITS:
            result[split] = drawn[start : start + counts[split]]
            start += counts[split]
    if spliced_share:
        # The heads and tails come from train sentences only, and no spliced
        # sentence is a held-out or corpus sentence, so held-out stays unheard.
        n_spliced = round(counts["train"] * spliced_share)
        kept = result["train"][: counts["train"] - n_spliced]
        spliced = splice_sentences(
            result["train"],
            n_spliced,
            int(sentences["seed"]),
            excluded | set(result["dev"]) | set(result["test"]) | set(kept),
        )
        result["train"] = kept + spliced
        result["spliced_train"] = n_spliced
    logger.info(
        "Pretraining sentences %s, %d corpus sentences excluded",
        {split: len(result[split]) for split in SPLITS},
        len(excluded),
    )
    return result


def _voice_name(voice: Voice) -> str:
    return f"{voice['voice']}-s{voice['speed']}-p{voice['pitch']}"


def _synthesise_clip(job: tuple[str, str, Voice]) -> tuple[str, str, Voice, bytes | None, str]:
    path, sentence, voice = job
    with tempfile.TemporaryDirectory(prefix="espeak-") as scratch:
        try:
            audio, rate = synthesize(sentence, voice, Path(scratch) / "clip.wav")
        except (SynthesisError, ValueError) as error:
            return path, sentence, voice, None, str(error)[:300]
    encoded = io.BytesIO()
    sf.write(encoded, audio, rate, format="FLAC")
    return path, sentence, voice, encoded.getvalue(), ""


def synthesise_speech(
    sentences: dict[str, Any], voices: list[Voice], synthesis: dict[str, Any]
) -> tuple[DatasetDict, dict[str, Any]]:
    """Speak every sentence with espeak-ng: ``path``, ``sentence``, ``voice``, ``audio`` (FLAC bytes).

    Each sentence of a split gets ``synthesis["clips_per_sentence"][split]``
    distinct voices drawn (seeded) from ``voices``. Clips espeak-ng does not
    speak as Mandarin syllables are dropped and reported (``synthesis_failed``).
    espeak-ng runs as a subprocess per clip, so threads use every core.
    """
    require_espeak()
    rng = random.Random(int(synthesis["seed"]))
    workers = int(synthesis.get("workers") or os.cpu_count() or 1)
    features = Features(
        {
            "path": Value("string"),
            "sentence": Value("string"),
            "voice": Value("string"),
            "audio": Value("binary"),
        }
    )
    report = stage_report("synthesis")
    corpus = {}
    for split in SPLITS:
        per_sentence = int(synthesis["clips_per_sentence"][split])
        jobs = []
        for index, sentence in enumerate(sentences[split]):
            for voice in rng.sample(list(voices), per_sentence):
                jobs.append((f"{split}/{index:05d}-{_voice_name(voice)}", sentence, voice))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_synthesise_clip, jobs))
        kept = [r for r in results if r[3] is not None]
        dropped = [
            {"path": path, "reason": "synthesis_failed", "detail": detail}
            for path, _, _, audio, detail in results
            if audio is None
        ]
        record_split(report, split, rows_in=len(jobs), kept=len(kept), dropped=dropped)
        corpus[split] = Dataset.from_dict(
            {
                "path": [r[0] for r in kept],
                "sentence": [r[1] for r in kept],
                "voice": [_voice_name(r[2]) for r in kept],
                "audio": [r[3] for r in kept],
            },
            features=features,
        )
        logger.info("Synthesised %s: %d clips, %d failed", split, len(kept), len(dropped))
    return DatasetDict(corpus), report


def architecture_window(architecture: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """The input window of the architecture being pretrained (``2 x max_source_positions`` frames)."""
    extractor = WhisperFeatureExtractor.from_pretrained(model["processor"])
    return input_window(int(architecture["max_source_positions"]), extractor)


def report_pretraining_data(
    synthesis: dict[str, Any], resample: dict[str, Any], features: dict[str, Any]
) -> dict[str, Any]:
    """``data_quality.json`` of the pretraining speech: counts per split, every dropped clip."""
    return summarise_data_quality("espeak-ng synthetic speech", [synthesis, resample, features])


def _continue_from(folder: str, config: Any) -> WhisperForConditionalGeneration:
    """The model saved in ``folder``, checked to have ``config``'s shape, in float32.

    Continued pretraining: after the sentence set grows, a model that already
    hears the voices learns the new sentences in far fewer steps than one
    trained again from random weights.
    """
    network = WhisperForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)
    keys = (
        "d_model",
        "encoder_layers",
        "decoder_layers",
        "encoder_ffn_dim",
        "decoder_ffn_dim",
        "encoder_attention_heads",
        "decoder_attention_heads",
        "max_source_positions",
        "max_target_positions",
        "vocab_size",
    )
    mismatched = {
        key: (getattr(network.config, key), getattr(config, key))
        for key in keys
        if getattr(network.config, key) != getattr(config, key)
    }
    if mismatched:
        raise ValueError(
            f"model.init_from {folder} does not have the architecture in the parameters "
            f"(saved, asked): {mismatched}"
        )
    logger.info("Continuing pretraining from %s", folder)
    return network


def pretrain_whisper(
    features: DatasetDict,
    model: dict[str, Any],
    architecture: dict[str, Any],
    training: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train a ``WhisperConfig`` of ``architecture`` on ``features`` with the training core.

    From random weights, or from the model folder ``model["init_from"]`` when
    that is set (continued pretraining; the folder must hold ``architecture``).

    Vocabulary and special-token ids are the real tokenizer's; training stops
    at ``training["max_steps"]`` or ``training["time_budget_minutes"]``,
    whichever comes first, and keeps the checkpoint with the lowest dev loss.
    Returns the model folder (model, processor whose feature extractor has
    the model's window, no card yet) and the training log.
    """
    processor = load_whisper_processor(model)
    config = tiny_whisper_config(processor, dict(architecture))
    torch.manual_seed(int(training.get("seed", 0)))
    init_from = model.get("init_from")
    network = (
        _continue_from(init_from, config) if init_from else WhisperForConditionalGeneration(config)
    )
    network.generation_config = whisper_generation_config(processor, config)
    columns = ["log_mel", "labels"]
    trained, log = fit_model(
        network,
        features["train"].select_columns(columns),
        features["dev"].select_columns(columns),
        collator_for(config),
        training=dict(training),
        fingerprint_parts={
            "architecture": dict(architecture),
            "processor": model["processor"],
            "init_from": init_from,
        },
        seq2seq=True,
    )
    extractor = processor.feature_extractor
    window = input_window(config.max_source_positions, extractor)
    # The saved extractor pads to the model's window, so the folder works as a processor on its own.
    processor.feature_extractor = WhisperFeatureExtractor(
        feature_size=extractor.feature_size,
        sampling_rate=extractor.sampling_rate,
        hop_length=extractor.hop_length,
        chunk_length=round(window["seconds"]),
        n_fft=extractor.n_fft,
    )
    n_parameters = sum(p.numel() for p in trained.parameters())
    log["parameters"] = n_parameters
    log["init_from"] = init_from
    if init_from and (Path(init_from) / "README.md").is_file():
        # Its card carries the history of the weights this run starts from.
        log["init_card"] = (Path(init_from) / "README.md").read_text(encoding="utf-8")
    logger.info(
        "Pretrained %s parameters for %d steps in %.0f s (time budget hit: %s)",
        f"{n_parameters:,}",
        log["global_step"],
        log["train_seconds"],
        log["stopped_by_time_budget"],
    )
    return {"model": trained, "processor": processor, "card": None}, log


def evaluate_demo_base(
    pretrained: dict[str, Any],
    features: DatasetDict,
    model: dict[str, Any],
    evaluation: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """CER and WER of the pretrained model on held-out sentences spoken by the pretraining voices."""
    network, tokenizer = pretrained["model"], pretrained["processor"].tokenizer
    network.eval()
    split_name = evaluation.get("split", "test")
    split = features[split_name]
    batch_size = int(evaluation.get("batch_size", 32))
    references, predictions = [], []
    batches = range(0, len(split), batch_size)
    for start in tqdm(batches, desc=f"transcribe {split_name}", unit="batch"):
        rows = split[start : start + batch_size]
        references += rows["sentence"]
        predictions += generate_transcripts(
            network,
            tokenizer,
            [np.asarray(m) for m in rows["log_mel"]],
            language=model["language"],
            task=model["task"],
            max_new_tokens=int(evaluation.get("max_new_tokens", 40)),
        )
    metrics = {
        "pretrained": {
            "cer": character_error_rate(references, predictions),
            "wer": word_error_rate(references, predictions),
            "n": len(references),
        },
        "split": split_name,
        "scope": "held-out template sentences, pretraining voices (espeak-ng), float32 weights",
        "normaliser": NORMALISER,
        "base_model_random": False,
        "git_commit": git_commit(),
        "package_versions": package_versions(),
    }
    logger.info(
        "Demo base held-out CER %.3f on %d clips", metrics["pretrained"]["cer"], len(references)
    )
    table = pd.DataFrame(
        {
            "path": split["path"],
            "reference": references,
            "prediction": predictions,
            "cer": [
                character_error_rate([r], [p]) for r, p in zip(references, predictions, strict=True)
            ],
        }
    )
    return metrics, table


def _start_of(training_log: dict[str, Any]) -> str:
    if training_log.get("init_from"):
        return f"continued from the model in `{training_log['init_from']}` (see its card)"
    return "from random weights"


def package_demo_base(  # noqa: PLR0917 (Kedro passes node inputs positionally)
    pretrained: dict[str, Any],
    metrics: dict[str, Any],
    training_log: dict[str, Any],
    data_quality: dict[str, Any],
    voices: list[Voice],
    architecture: dict[str, Any],
) -> dict[str, Any]:
    """The demo-base folder: the pretrained model (saved in fp16 by the catalog), its processor and a model card."""
    kept = {split: counts["kept"] for split, counts in data_quality["splits"].items()}
    voice_list = ", ".join(f"`{_voice_name(v)}`" for v in voices)
    window = input_window(
        int(architecture["max_source_positions"]), pretrained["processor"].feature_extractor
    )
    shape = ", ".join(f"{key} {value}" for key, value in architecture.items())
    card = f"""# whisper-tiny-zh-synthetic

A tiny Whisper (`WhisperForConditionalGeneration`, {training_log["parameters"]:,} parameters)
pretrained on synthetic Mandarin speech by this project's
`whisper_demo_base` pipeline (`kedro run --pipelines whisper_demo_base`). It is
the offline default base of the `whisper_zh` pipeline, which fine-tunes it with
LoRA on the bundled corpus's voices. It is a demo base, not a speech recogniser.

## Scope
- **Synthetic voices only**: espeak-ng `cmn-latn-pinyin` at {len(voices)} speed/pitch
  settings ({voice_list}). The bundled Common Voice-format corpus uses other
  voice variants, so it is new speech to this model.
- **Closed vocabulary**: template sentences over a few hundred everyday
  characters; no sentence of the bundled corpus was used.
- **{window["seconds"]:g} s input window** (`max_source_positions` {architecture["max_source_positions"]},
  {window["frames"]} log-mel frames); longer audio must be cut into windows.

## How it was made
- Data: {kept.get("train", 0):,} training clips, {kept.get("dev", 0):,} dev clips,
  {kept.get("test", 0):,} held-out test clips (sentences not in train or dev).
- Architecture: {shape}; the real Whisper vocabulary (51,865 tokens, large-v2 ids).
- Training: {_start_of(training_log)}; {training_log["global_step"]:,} steps in {training_log["train_seconds"] / 60:.1f} minutes
  ({"stopped by the time budget" if training_log["stopped_by_time_budget"] else "step limit reached"});
  best checkpoint by dev loss: {training_log.get("best_checkpoint")}.
- Weights saved in float16.

## Held-out result
CER **{metrics["pretrained"]["cer"]:.1%}** (WER {metrics["pretrained"]["wer"]:.1%}, whole sentences)
on {metrics["pretrained"]["n"]} held-out clips of the pretraining voices, greedy decoding,
float32 weights, text normalised ({metrics["normaliser"]}).

Made at commit `{metrics.get("git_commit")}`.
"""
    if training_log.get("init_card"):
        # Demote the earlier card's headings so that it reads as one section of this one.
        earlier = "\n".join(
            "##" + line if line.startswith("#") else line
            for line in training_log["init_card"].strip().splitlines()
        )
        card += f"\n## The model this one continued from\n\n{earlier}\n"
    return {"model": pretrained["model"], "processor": pretrained["processor"], "card": card}
