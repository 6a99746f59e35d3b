import numpy as np
import torch

from peft_pipelines.speech.collator import IGNORE_INDEX, WhisperBatchCollator

SOT = 50258


def _row(frames: int, labels: list[int]) -> dict:
    return {"log_mel": np.full((frames, 80), 0.5, dtype=np.float16), "labels": labels}


def test_features_are_padded_to_the_window_and_labels_masked_with_minus_100():
    collate = WhisperBatchCollator(window_frames=3000, decoder_start_token_id=SOT)
    batch = collate(
        [
            _row(120, [SOT, 50260, 50359, 50363, 11, 12, 50257]),
            _row(300, [SOT, 50260, 50359, 50363, 50257]),
        ]
    )
    assert batch["input_features"].shape == (2, 80, 3000)
    assert batch["input_features"].dtype == torch.float32
    assert torch.all(batch["input_features"][0, :, 120:] == -1.5)  # the clip's floor: max 0.5 - 2
    assert batch["labels"].tolist() == [
        [50260, 50359, 50363, 11, 12, 50257],
        [50260, 50359, 50363, 50257, IGNORE_INDEX, IGNORE_INDEX],
    ]


def test_leading_start_token_is_kept_unless_every_row_starts_with_it():
    collate = WhisperBatchCollator(window_frames=500, decoder_start_token_id=SOT)
    batch = collate([_row(10, [SOT, 1, 2]), _row(10, [7, 1, 2])])
    assert batch["labels"][:, 0].tolist() == [SOT, 7]
    assert batch["input_features"].shape == (2, 80, 500)
