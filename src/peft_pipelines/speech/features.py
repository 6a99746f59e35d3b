"""Whisper log-mel features stored without their padding, and padded back at batch time.

``WhisperFeatureExtractor`` pads every clip to 30 s before its STFT, so the
seed stored 80 x 3000 float32 (960,000 bytes) per clip whatever its length.
We store only the frames that see real audio, in float16, frames-major
(``n_frames x n_mels``), and rebuild the padded input at batch time.

The padded frames are not zeros. The extractor computes
``log10(max(mel, 1e-10))``, clamps it from below at the clip's maximum minus 8,
then rescales by ``(x + 4) / 4``. Frames of pure zero padding therefore hold
``max(stored_max - 2, (log10(1e-10) + 4) / 4) = max(stored_max - 2, -1.5)``:
the clip's own floor, which :func:`pad_log_mel` writes back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from transformers import WhisperFeatureExtractor

# (log10(1e-10) + 4) / 4: the value of a frame of digital silence when the
# clip's own maximum - 8 clamp does not reach it (a near-silent clip).
SILENCE_FLOOR = -1.5
FLOOR_BELOW_MAX = 2.0  # the extractor's clamp of 8 in log10 space, divided by its /4 rescale


def frames_seeing_audio(n_samples: int, extractor: WhisperFeatureExtractor) -> int:
    """Frames whose centred STFT window overlaps at least one real sample, capped at the window."""
    half_window = extractor.n_fft // 2
    return min(math.ceil((n_samples + half_window) / extractor.hop_length), extractor.nb_max_frames)


def compact_log_mel(
    waveforms: Sequence[np.ndarray], extractor: WhisperFeatureExtractor
) -> list[np.ndarray]:
    """Log-mel features of 16 kHz clips, without padding frames: float16, ``(n_frames, n_mels)`` each.

    Each clip gets ``n_fft`` zeros appended, so its last frames see zeros after
    the audio exactly as in the extractor's own 30 s padded run (rather than a
    reflection of the audio's end), then only :func:`frames_seeing_audio`
    frames are kept. The result equals the extractor's padded output on those
    frames; :func:`pad_log_mel` restores the rest.
    """
    if len(waveforms) == 0:
        return []
    padded = [
        np.concatenate([np.asarray(w, dtype=np.float32), np.zeros(extractor.n_fft, np.float32)])
        for w in waveforms
    ]
    features = extractor(
        padded,
        sampling_rate=extractor.sampling_rate,
        padding="longest",
        return_tensors="np",
    ).input_features
    return [
        np.ascontiguousarray(
            features[i, :, : frames_seeing_audio(len(w), extractor)].T, dtype=np.float16
        )
        for i, w in enumerate(waveforms)
    ]


def pad_log_mel(clips: Sequence[np.ndarray], window_frames: int) -> np.ndarray:
    """Stack compact ``(n_frames, n_mels)`` clips into the extractor's ``(batch, n_mels, window_frames)`` float32.

    Frames past each clip's end get that clip's floor (see module docstring),
    which is what ``WhisperFeatureExtractor`` itself puts there.
    """
    n_mels = clips[0].shape[1]
    batch = np.empty((len(clips), n_mels, window_frames), dtype=np.float32)
    for row, stored in enumerate(clips):
        clip = np.asarray(stored, dtype=np.float32)
        if clip.shape[0] > window_frames:
            raise ValueError(
                f"clip has {clip.shape[0]} frames, more than the {window_frames}-frame window"
            )
        batch[row] = max(float(clip.max()) - FLOOR_BELOW_MAX, SILENCE_FLOOR)
        batch[row, :, : clip.shape[0]] = clip.T
    return batch
