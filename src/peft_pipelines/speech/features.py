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
import torch
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

    Whisper's log-mel, computed clip by clip with torch exactly as the
    extractor's torch path does (same STFT, mel filters, clamp and rescale),
    but on each clip alone instead of a batch padded to its longest clip: half
    the time (docs/performance.md). Each clip gets ``n_fft`` zeros appended (the whole cut
    at the extractor's 30 s, as it cuts), so its last frames see zeros after the
    audio exactly as in the extractor's own padded run rather than a reflection
    of the audio's end; then only :func:`frames_seeing_audio` frames are kept.
    The result equals the extractor's padded output on those frames
    (``tests/speech/test_features.py``);
    :func:`pad_log_mel` restores the rest.
    """
    window = torch.hann_window(extractor.n_fft)
    mel_filters = torch.from_numpy(np.asarray(extractor.mel_filters, dtype=np.float32)).T
    tail = torch.zeros(extractor.n_fft)
    clips = []
    for waveform in waveforms:
        # Cut at the extractor's 30 s, as it does: a clip that fills it has no zeros after it.
        samples = torch.cat([torch.as_tensor(np.asarray(waveform, dtype=np.float32)), tail])
        samples = samples[: extractor.n_samples]
        if extractor.dither:
            samples = samples + extractor.dither * torch.randn_like(samples)
        stft = torch.stft(
            samples, extractor.n_fft, extractor.hop_length, window=window, return_complex=True
        )
        power = (stft[:, :-1].abs() ** 2).contiguous()
        log_spec = torch.clamp(mel_filters @ power, min=1e-10).log10()
        log_spec = (torch.maximum(log_spec, log_spec.max() - 8.0) + 4.0) / 4.0
        kept = log_spec[:, : frames_seeing_audio(len(waveform), extractor)]
        clips.append(np.ascontiguousarray(kept.T.numpy(), dtype=np.float16))
    return clips


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
