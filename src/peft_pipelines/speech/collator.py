"""Batching Whisper training rows: compact features padded back to the window, labels masked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from peft_pipelines.speech.features import pad_log_mel

IGNORE_INDEX = -100  # the label value the loss skips


@dataclass
class WhisperBatchCollator:
    """Turn rows of ``log_mel`` (float16, ``n_frames x n_mels``) and ``labels`` into a Whisper batch.

    * features are padded to ``window_frames`` (3000 for real Whisper: its
      encoder takes exactly ``2 x max_source_positions`` frames) with each
      clip's floor, exactly as the feature extractor pads;
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
