"""Bytes per clip of persisted Whisper features: our layout against the seed's.

The seed stored every clip as the extractor's padded 80 x 3000 float32 array
(960,000 bytes of data per clip, whatever the clip's length). We store only the
frames that see audio, in float16. Both are written as Arrow datasets with
``save_to_disk`` from the same decoded clips, and their folders measured.

    python -m benchmarks.feature_storage [--corpus data/01_raw/common_voice_zh_sample]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from datasets import Array2D, Features
from transformers import WhisperProcessor

from peft_pipelines.io.common_voice import read_common_voice_release
from peft_pipelines.pipelines.whisper_zh.nodes import ingest_corpus, prune_columns
from peft_pipelines.speech.collator import input_window
from peft_pipelines.speech.nodes import extract_features_and_labels, resample_to_16k


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="data/01_raw/common_voice_zh_sample")
    parser.add_argument("--processor", default="data/01_raw/whisper_processor")
    args = parser.parse_args()

    model = {"language": "zh", "task": "transcribe"}
    raw, _ = ingest_corpus(read_common_voice_release(args.corpus, ["train", "dev", "test"]))
    pruned, _ = prune_columns(raw, ["audio", "sentence"])
    processor = WhisperProcessor.from_pretrained(args.processor)
    extractor = processor.feature_extractor
    # The seed's model: real Whisper's 30 s window (max_source_positions 1500).
    window = input_window(1500, extractor)
    resampled, _ = resample_to_16k(pruned, {"sampling_rate": 16000}, window)

    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        ours, _ = extract_features_and_labels(
            resampled, processor, model, {"max_label_tokens": 448}, window
        )
        ours.save_to_disk(f"{scratch}/ours")
        ours_seconds = time.perf_counter() - started

        started = time.perf_counter()
        seed_features = Features(
            {"input_features": Array2D(shape=(80, window["frames"]), dtype="float32")}
        )
        seed = resampled.with_format("numpy").map(
            lambda batch: {
                "input_features": extractor(
                    list(batch["audio_16k"]), sampling_rate=16000
                ).input_features
            },
            batched=True,
            batch_size=16,
            remove_columns=resampled["train"].column_names,
            features=seed_features,
            desc="seed layout",
        )
        seed.save_to_disk(f"{scratch}/seed")
        seed_seconds = time.perf_counter() - started

        clips = sum(len(split) for split in ours.values())
        audio_seconds = sum(sum(split["duration_s"]) for split in ours.values())
        ours_bytes, seed_bytes = (
            folder_bytes(Path(scratch, "ours")),
            folder_bytes(Path(scratch, "seed")),
        )
        print(
            f"clips: {clips} ({audio_seconds:.0f} s of audio, mean {audio_seconds / clips:.2f} s)"
        )
        print(
            f"seed layout (80 x 3000 float32, padded): {seed_bytes / clips:,.0f} bytes/clip, features+save {seed_seconds:.1f} s"
        )
        print(
            f"ours (real frames only, float16, with labels): {ours_bytes / clips:,.0f} bytes/clip, features+save {ours_seconds:.1f} s"
        )
        print(f"ratio seed/ours: {seed_bytes / ours_bytes:.1f}x smaller on disk")


if __name__ == "__main__":
    main()
