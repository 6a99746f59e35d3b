"""Transcription engines side by side: our transformers path, faster-whisper, our CTranslate2 engine.

One run, one model, the same clips (the bundled test split, ``--times`` copies),
each engine given the decoded 16 kHz audio (no voice activity detection: the
clips are speech):

(a) the transformers path as ``whisper-zh-transcribe --engine transformers``
    runs it: the adapter on its 8-bit base, full 30 s window, batches of
    ``batch_size`` (the pipeline's decoding options);
(b) faster-whisper on the same CTranslate2 int8 export, one clip at a time:
    ``WhisperModel(folder).transcribe(audio, beam_size=1, temperature=0.0,
    vad_filter=False, without_timestamps=True, language="zh")``;
(c) our CTranslate2 engine (:mod:`peft_pipelines.speech.ctranslate2_engine`):
    clips sorted by length, batched, each batch's window fitted.

The model is the latest adapter of ``data/06_models/whisper_zh/adapter`` (or
``--adapter``) merged into its float32 base and exported at int8, as the export
stages do; an export already at their layout is used as it is, else one is
made once into ``data/07_model_output/transcription_engines/<version>``.
``--reduced``: a random tiny Whisper instead (no adapter; (a) in float32),
what the tests run: its transcripts are noise and its figures say so.
Prints clips/s, CER and the share of transcripts identical to (b)'s for each,
then ``engine vs faster-whisper: N.Nx, CER x.xxx vs y.yyy``.

    python -m benchmarks.transcription_engines [--times 1] [--adapter FOLDER | --reduced]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benchmarks.eval_throughput import whisper_zh_parameters
from peft_pipelines.io.exported_models import (
    CTranslate2Conversion,
    CTranslate2ModelDataset,
    MergedModelDataset,
    ctranslate2_export_of,
)
from peft_pipelines.io.model_datasets import MANIFEST_FILE, load_adapter, read_manifest
from peft_pipelines.speech.audio import decode_to_mono
from peft_pipelines.speech.ctranslate2_engine import load_ctranslate2_transcriber
from peft_pipelines.speech.decoding import DecodingOptions, Transcript
from peft_pipelines.speech.metrics import character_error_rate
from peft_pipelines.speech.transcribe import ClipTranscriber, TransformersTranscriber
from peft_pipelines.training.export import merge_adapter
from tests.scratch_project import PROJECT_ROOT
from tests.support import BUNDLED_CORPUS, TINY_ARCHITECTURE, export_to_ctranslate2, read_tsv

ADAPTERS = PROJECT_ROOT / "data" / "06_models" / "whisper_zh" / "adapter"
EXPORT_CACHE = PROJECT_ROOT / "data" / "07_model_output" / "transcription_engines"
# The tests' tiny shape with Whisper's 30 s window and 448 decoder positions: faster-whisper
# always feeds 3000 frames and may decode up to 448 tokens.
REDUCED_ARCHITECTURE = {
    **TINY_ARCHITECTURE,
    "max_source_positions": 1500,
    "max_target_positions": 448,
}


def test_split(times: int) -> tuple[list[np.ndarray], list[str]]:
    """The bundled test clips at 16 kHz and their sentences, ``times`` over."""
    rows = read_tsv(BUNDLED_CORPUS / "test.tsv")
    audio = [
        decode_to_mono((BUNDLED_CORPUS / "clips" / r["path"]).read_bytes(), 16000) for r in rows
    ]
    return audio * times, [r["sentence"] for r in rows] * times


def latest_adapter() -> Path:
    """The newest adapter version a whisper_zh run wrote (versions sort by their timestamps)."""
    versions = sorted(ADAPTERS.glob("*/adapter"))
    if not versions:
        raise SystemExit(f"no adapter under {ADAPTERS}: run kedro run --pipelines whisper_zh first")
    return versions[-1]


def merged_export(adapter: Path) -> Path:
    """The adapter's CTranslate2 int8 export: the export stages' if there is one, else made once here."""
    staged = ctranslate2_export_of(adapter)
    if staged is not None and (staged / "model.bin").is_file():
        return staged
    # Else made once by the export stages' own code: merge_adapter, then the CTranslate2
    # dataset's conversion (the adapter merged into its float32 base: 8-bit weights
    # cannot take the LoRA update exactly).
    cache = EXPORT_CACHE / adapter.parent.name
    merged_dataset = MergedModelDataset(path=str(cache / "merged"))
    if not merged_dataset.exists():
        manifest = read_manifest(adapter / MANIFEST_FILE)
        merged_dataset.save(merge_adapter(load_adapter(adapter), manifest))
    export_dataset = CTranslate2ModelDataset(path=str(cache / "ctranslate2"))
    if not export_dataset.exists():
        merged = Path(merged_dataset.load().name_or_path)
        export_dataset.save(CTranslate2Conversion(merged, quantization="int8"))
    return export_dataset.load().path


def reduced_models(scratch: Path) -> tuple[ClipTranscriber, Path]:
    """A random tiny Whisper with a 30 s window (float32, no adapter) and its int8 export."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor  # noqa: PLC0415

    from peft_pipelines.speech.tiny_whisper import build_tiny_whisper  # noqa: PLC0415
    from tests.support import PROCESSOR_DIR  # noqa: PLC0415

    folder = build_tiny_whisper(str(PROCESSOR_DIR), REDUCED_ARCHITECTURE, 0, str(scratch / "tiny"))
    model = WhisperForConditionalGeneration.from_pretrained(str(folder)).eval()
    transformers_path = TransformersTranscriber(
        model, WhisperProcessor.from_pretrained(str(folder))
    )
    return transformers_path, export_to_ctranslate2(folder, scratch / "tiny-ct2")


def transformers_path(adapter: Path) -> ClipTranscriber:
    """(a): the adapter on its 8-bit base with the full window, as the transcribe command loads it."""
    from peft_pipelines.speech.transcribe import load_transcriber  # noqa: PLC0415

    model, processor = load_transcriber(adapter)
    return TransformersTranscriber(model, processor)


def faster_whisper_texts(
    export: Path, threads: int, **limits: int
) -> Callable[[list[np.ndarray]], list[str]]:
    """(b): faster-whisper's own transcribe on the export, one clip at a time (``limits``: --reduced's token cap)."""
    from faster_whisper import WhisperModel  # noqa: PLC0415

    model = WhisperModel(str(export), device="cpu", compute_type="int8", cpu_threads=threads)

    def transcribe(clips: list[np.ndarray]) -> list[str]:
        texts = []
        for clip in clips:
            segments, _ = model.transcribe(
                clip,
                beam_size=1,
                # Greedy only: by default a clip whose log-probability is low is decoded again
                # at rising temperatures, which is not the greedy decoding compared here.
                temperature=0.0,
                vad_filter=False,
                without_timestamps=True,
                language="zh",
                **limits,
            )
            texts.append("".join(segment.text for segment in segments).strip())
        return texts

    return transcribe


def timed(name: str, run: Callable[[list[np.ndarray]], list[str]], clips: list) -> dict:
    """Texts and seconds of one engine on the clips, after an untimed warm-up on two."""
    run(clips[:2])
    started = time.perf_counter()
    texts = run(clips)
    return {"name": name, "texts": texts, "seconds": time.perf_counter() - started}


def clip_texts(
    transcriber: ClipTranscriber, options: DecodingOptions
) -> Callable[[list[np.ndarray]], list[str]]:
    def transcribe(clips: list[np.ndarray]) -> list[str]:
        results: list[Transcript] = transcriber.transcribe_clips(clips, options)
        return [t.text for t in results]

    return transcribe


def report(runs: list[dict], sentences: list[str], reference: dict) -> list[str]:
    """One line per engine: clips/s, CER, transcripts identical to the reference's; then the ratio."""
    lines = []
    for run in runs:
        same = sum(a == b for a, b in zip(run["texts"], reference["texts"], strict=True))
        run["cer"] = character_error_rate(sentences, run["texts"])
        lines.append(
            f"{run['name']}: {len(sentences) / run['seconds']:.2f} clips/s "
            f"({run['seconds']:.1f} s), CER {run['cer']:.3f}, "
            f"identical to (b): {same}/{len(sentences)} ({same / len(sentences):.0%})"
        )
    ours = runs[-1]
    lines.append(
        f"engine vs faster-whisper: {reference['seconds'] / ours['seconds']:.1f}x, "
        f"CER {ours['cer']:.3f} vs {reference['cer']:.3f}"
    )
    return lines


def main() -> None:
    params = whisper_zh_parameters()
    options = DecodingOptions.from_parameters(params["model"], params["evaluation"])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=1, help="copies of the test split (25 clips)")
    parser.add_argument("--clips", type=int, help="only the first CLIPS clips (default: all)")
    parser.add_argument("--batch-size", type=int, default=options.batch_size)
    parser.add_argument("--max-new-tokens", type=int, default=options.max_new_tokens)
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="CPU threads of every engine"
    )
    models = parser.add_mutually_exclusive_group()
    models.add_argument("--adapter", type=Path, help="default: the latest whisper_zh adapter")
    models.add_argument("--reduced", action="store_true", help="a random tiny Whisper (tests)")
    args = parser.parse_args()
    options = options.replace(batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
    torch.set_num_threads(args.threads)
    clips, sentences = test_split(args.times)
    clips, sentences = clips[: args.clips], sentences[: args.clips]
    # A random model never stops: faster-whisper would decode 448 tokens.
    limits = {"max_new_tokens": args.max_new_tokens} if args.reduced else {}
    with tempfile.TemporaryDirectory() as scratch:
        if args.reduced:
            ours_a, export = reduced_models(Path(scratch))
            trained_window, label = None, "RANDOM-WEIGHT tiny Whisper (transcripts are noise)"
        else:
            adapter = args.adapter or latest_adapter()
            ours_a, export = transformers_path(adapter), merged_export(adapter)
            trained_window = read_manifest(adapter / MANIFEST_FILE).window_seconds
            label = f"{adapter} merged, CTranslate2 int8 export {export}"
        engine = load_ctranslate2_transcriber(
            export, min_window_seconds=trained_window, threads=args.threads
        )
        print(
            f"model: {label}; {len(clips)} test clips; {args.threads} threads each; "
            f"load average before: {os.getloadavg()[0]:.2f}"
        )
        runs = [
            timed(
                f"(a) transformers{'' if args.reduced else ' 8-bit'}",
                clip_texts(ours_a, options),
                clips,
            ),
            timed(
                "(b) faster-whisper one at a time",
                faster_whisper_texts(export, args.threads, **limits),
                clips,
            ),
            timed(
                f"(c) ours, CTranslate2 batches of {args.batch_size}, fitted windows",
                clip_texts(engine, options),
                clips,
            ),
        ]
    print("\n".join(report(runs, sentences, runs[1])))
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
