"""Transcribe any audio file with a base Whisper plus a trained adapter.

    whisper-zh-transcribe path/to/audio.mp3 [--adapter data/06_models/whisper_zh/adapter]

Any format libsndfile reads (wav, flac, mp3, ogg), any sample rate, mono or
stereo, any length: audio longer than the model's window is cut into
consecutive windows, transcribed as one batch, and the texts joined.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from peft import PeftModel
from transformers import PretrainedConfig, PreTrainedModel, WhisperProcessor, WhisperTokenizer

from peft_pipelines.speech.audio import UndecodableAudioError, decode_to_mono
from peft_pipelines.speech.collator import encoder_window_frames
from peft_pipelines.speech.features import compact_log_mel, pad_log_mel


def whisper_config(model: PreTrainedModel | PeftModel) -> PretrainedConfig:
    """The Whisper config of a model, with or without a PEFT adapter around it."""
    return model.get_base_model().config if isinstance(model, PeftModel) else model.config


def split_into_windows(samples: np.ndarray, window: int) -> list[np.ndarray]:
    """Consecutive windows of ``window`` samples (the last one shorter); at least one."""
    return [samples[start : start + window] for start in range(0, max(len(samples), 1), window)]


def generate_transcripts(
    model: PreTrainedModel | PeftModel,
    tokenizer: WhisperTokenizer,
    compact_features: Sequence[np.ndarray],
    *,
    language: str,
    task: str,
    max_new_tokens: int,
) -> list[str]:
    """Greedy transcripts of a batch of compact log-mel clips (``n_frames x n_mels`` each).

    The clips are padded to the model's own window (:func:`encoder_window_frames`)
    and decoded with the language/task prompt forced. Used by evaluation and by
    this CLI alike.
    """
    config = whisper_config(model)
    batch = pad_log_mel([np.asarray(c) for c in compact_features], encoder_window_frames(config))
    with torch.no_grad():
        ids = model.generate(
            input_features=torch.from_numpy(batch).to(model.device),
            language=language,
            task=task,
            max_new_tokens=max_new_tokens,
            use_cache=True,  # the training core turns the cache off in the model's config
        )
    return tokenizer.batch_decode(ids, skip_special_tokens=True)


def transcribe_samples(
    model: PreTrainedModel | PeftModel,
    processor: WhisperProcessor,
    samples: np.ndarray,
    *,
    language: str,
    task: str,
    max_new_tokens: int,
) -> tuple[str, int]:
    """The transcript of 16 kHz mono ``samples`` of any length, and how many windows it took."""
    config = whisper_config(model)
    window_frames = encoder_window_frames(config)
    extractor = processor.feature_extractor
    windows = split_into_windows(samples, window_frames * extractor.hop_length)
    # A full window's last two frames only see its final samples; the encoder takes window_frames.
    compact = [frames[:window_frames] for frames in compact_log_mel(windows, extractor)]
    texts = generate_transcripts(
        model,
        processor.tokenizer,
        compact,
        language=language,
        task=task,
        max_new_tokens=max_new_tokens,
    )
    return "".join(text.strip() for text in texts), len(windows)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: print the transcript, or one error line and exit 2."""
    from peft_pipelines.io import PeftAdapterDataset  # noqa: PLC0415 (loads the training stack)

    parser = argparse.ArgumentParser(
        description="Transcribe an audio file with base Whisper + a trained adapter."
    )
    parser.add_argument(
        "audio", help="an audio file: wav, flac, mp3, ogg; any rate, mono or stereo, any length"
    )
    parser.add_argument(
        "--adapter",
        default="data/06_models/whisper_zh/adapter",
        help="the adapter folder a whisper_zh run wrote",
    )
    parser.add_argument("--language", default="zh")
    parser.add_argument("--task", default="transcribe")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args(argv)

    audio = Path(args.audio)
    try:
        data = audio.read_bytes()
        samples = decode_to_mono(data, 16000)
    except (OSError, UndecodableAudioError) as error:
        print(f"error: cannot read audio file {audio}: {error}", file=sys.stderr)
        return 2
    if not (Path(args.adapter) / "adapter_config.json").is_file():
        print(
            f"error: no adapter at {args.adapter}: run `kedro run --pipelines whisper_zh` first",
            file=sys.stderr,
        )
        return 2
    model = PeftAdapterDataset(path=args.adapter).load()
    model.eval()
    processor = WhisperProcessor.from_pretrained(model.peft_pipelines_manifest["name_or_path"])
    text, _ = transcribe_samples(
        model,
        processor,
        samples,
        language=args.language,
        task=args.task,
        max_new_tokens=args.max_new_tokens,
    )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
