"""Batching Whisper training rows: compact features padded back to the window, labels masked.

The window is the model's, not a constant: Whisper's encoder takes exactly
``2 x max_source_positions`` log-mel frames (its second convolution has
stride 2), which is 3000 frames (30 s) for real Whisper and 500 (5 s) for the
random tiny test model. :func:`encoder_window_frames` is the one place that rule lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import PretrainedConfig, WhisperFeatureExtractor

from peft_pipelines.speech.features import pad_log_mel

IGNORE_INDEX = -100  # the label value the loss skips


def encoder_window_frames(config: PretrainedConfig) -> int:
    """Log-mel frames the encoder of a Whisper config takes: ``2 x max_source_positions``."""
    return 2 * int(config.max_source_positions)


def input_window(max_source_positions: int, extractor: WhisperFeatureExtractor) -> dict[str, Any]:
    """The model's input window in frames, samples and seconds, for the data stages and reports."""
    frames = 2 * int(max_source_positions)
    samples = frames * extractor.hop_length
    return {
        "frames": frames,
        "samples": samples,
        "seconds": samples / extractor.sampling_rate,
        "sampling_rate": extractor.sampling_rate,
    }


@dataclass
class WhisperBatchCollator:
    """Turn rows of ``log_mel`` (float16, ``n_frames x n_mels``) and ``labels`` into a Whisper batch.

    * features are padded to ``window_frames`` (see :func:`encoder_window_frames`)
      with each clip's floor, exactly as the feature extractor pads;
    * labels are right-padded with -100 so padding adds nothing to the loss;
    * a leading ``decoder_start_token_id`` column is dropped when every row
      starts with it, because the model prepends it again when it shifts the
      labels right to make the decoder inputs.
    """

    window_frames: int
    decoder_start_token_id: int

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        features = pad_log_mel([np.asarray(row["log_mel"]) for row in rows], self.window_frames)
        longest = max(len(row["labels"]) for row in rows)
        labels = np.full((len(rows), longest), IGNORE_INDEX, dtype=np.int64)
        for index, row in enumerate(rows):
            labels[index, : len(row["labels"])] = row["labels"]
        if np.all(labels[:, 0] == self.decoder_start_token_id):
            labels = labels[:, 1:]
        return {"input_features": torch.from_numpy(features), "labels": torch.from_numpy(labels)}


def collator_for(config: PretrainedConfig) -> WhisperBatchCollator:
    """The batch collator for a Whisper model of this config (its window and start token)."""
    return WhisperBatchCollator(
        window_frames=encoder_window_frames(config),
        decoder_start_token_id=config.decoder_start_token_id,
    )
