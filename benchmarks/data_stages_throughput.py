"""Audio seconds per wall second of the data stages: the seed's way against ours, same clips, one invocation.

The corpus is ``--times`` (10) x the bundled train split, clips repeated, so
that start-up does not dominate. Imports and interpreter start are outside
both timings.

(a) The seed's way: for each clip ``librosa.load(path, sr=16000)``, then
    ``WhisperFeatureExtractor`` on that one clip into its padded 80 x 3000
    float32 array, and the tokenized sentence, in one process, through a
    per-example ``datasets.map`` into an Arrow dataset saved to disk.
(b) Ours: ``whisper_zh.audio_features.resample_to_16k`` and
    ``whisper_zh.audio_features.extract_features_and_labels`` run by Kedro as ``kedro run`` runs them, catalog saves included, with the
    parameters in conf/base (so with their ``num_proc``). Ingest and prune
    (reading the clip files into Arrow) run before, untimed, and are also timed
    on their own and reported, for the whole path from the files.

Both use the 30 s window of real Whisper.

    python -m benchmarks.data_stages_throughput [--times 10]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
from datasets import Array2D, Dataset, Features, Sequence, Value
from transformers import WhisperProcessor

from benchmarks.scaled_corpus import (
    DATA_STAGES,
    PROCESSOR,
    data_stage_params,
    folder_bytes,
    read_split,
    repeat_corpus,
    run_data_stages,
    scratch_project,
)

SEED_RATE = 16000
REAL_WHISPER_POSITIONS = 1500  # 3000 frames = 30 s


def seed_way(corpus: Path, split: str, out: Path) -> float:
    """The seed notebook's data preparation on ``corpus``'s ``split``; returns the audio seconds processed."""
    processor = WhisperProcessor.from_pretrained(PROCESSOR)
    processor.tokenizer.set_prefix_tokens(language="zh", task="transcribe")
    _, rows = read_split(corpus, split)
    table = Dataset.from_dict(
        {
            "path": [str(corpus / "clips" / r["path"]) for r in rows],
            "sentence": [r["sentence"] for r in rows],
        }
    )

    def prepare(example: dict) -> dict:
        audio, _ = librosa.load(example["path"], sr=SEED_RATE)
        return {
            "input_features": processor.feature_extractor(
                audio, sampling_rate=SEED_RATE
            ).input_features[0],
            "labels": processor.tokenizer(example["sentence"]).input_ids,
            "seconds": len(audio) / SEED_RATE,
        }

    prepared = table.map(
        prepare,
        remove_columns=table.column_names,
        features=Features(
            {
                "input_features": Array2D(shape=(80, 3000), dtype="float32"),
                "labels": Sequence(Value("int32")),
                "seconds": Value("float64"),
            }
        ),
        cache_file_name=str(out / "cache.arrow"),
        desc="seed's way",
    )
    prepared.save_to_disk(str(out / "saved"))
    return float(np.sum(prepared["seconds"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=10, help="copies of the bundled train split")
    args = parser.parse_args()
    splits = ("train",)

    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        corpus = repeat_corpus(scratch / "corpus", args.times, splits)
        project = scratch_project(scratch / "project", corpus, splits)
        params = data_stage_params(REAL_WHISPER_POSITIONS)

        # (b) first its untimed preparation: the window, and the corpus read into Arrow.
        started = time.perf_counter()
        run_data_stages(project, params, DATA_STAGES[:3])
        ingest_seconds = time.perf_counter() - started
        started = time.perf_counter()
        run_data_stages(project, params, DATA_STAGES[3:5])
        ours_seconds = time.perf_counter() - started
        ours_bytes = folder_bytes(project / "data" / "03_primary") + folder_bytes(
            project / "data" / "04_feature"
        )

        (scratch / "seed").mkdir()
        # librosa's first load imports its resampling and decoding modules (about 20 s
        # here): import time, which the timing leaves out, as it does for (b).
        librosa.load(next((corpus / "clips").iterdir()), sr=SEED_RATE)
        started = time.perf_counter()
        audio_seconds = seed_way(corpus, "train", scratch / "seed")
        seed_seconds = time.perf_counter() - started
        seed_bytes = folder_bytes(scratch / "seed" / "saved")

        clips = len(read_split(corpus, "train")[1])
        seed_rate = audio_seconds / seed_seconds
        ours_rate = audio_seconds / ours_seconds
        whole_rate = audio_seconds / (ours_seconds + ingest_seconds)
        print(
            f"corpus: {clips} clips, {audio_seconds:.0f} s of audio ({args.times} x the bundled train split); "
            f"{os.cpu_count()} CPUs"
        )
        print(
            f"(a) seed's way (librosa.load + padded 80x3000 float32, per-clip map, saved): "
            f"{seed_seconds:.1f} s, {seed_rate:.0f} audio-s/s, {seed_bytes / clips:,.0f} bytes/clip written"
        )
        print(
            f"(b) ours (resample_to_16k + extract_features_and_labels, kedro run, saved): "
            f"{ours_seconds:.1f} s, {ours_rate:.0f} audio-s/s, {ours_bytes / clips:,.0f} bytes/clip written"
        )
        print(
            f"    ours from the clip files (ingest + prune {ingest_seconds:.1f} s included): {whole_rate:.0f} audio-s/s"
        )
        print(
            f"ratio ours/seed: {ours_rate / seed_rate:.1f}x (from the files: {whole_rate / seed_rate:.1f}x)"
        )


if __name__ == "__main__":
    main()
