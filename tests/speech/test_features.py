import math

import numpy as np
import pytest
from transformers import WhisperFeatureExtractor

from peft_pipelines.speech.audio import decode_to_mono
from peft_pipelines.speech.features import compact_log_mel, frames_seeing_audio, pad_log_mel
from tests.support import read_tsv

FLOAT16_TOLERANCE = 2e-3  # stored values lie in about [-1.5, 2]: float16 spacing there is <= 2e-3


@pytest.fixture(scope="module")
def extractor() -> WhisperFeatureExtractor:
    return WhisperFeatureExtractor(feature_size=80)


@pytest.fixture(scope="module")
def clips(bundled_corpus) -> list[np.ndarray]:
    rows = read_tsv(bundled_corpus / "train.tsv")[:4]
    speech = [
        decode_to_mono((bundled_corpus / "clips" / r["path"]).read_bytes(), 16000) for r in rows
    ]
    near_silence = np.full(
        8000, 1e-7, dtype=np.float32
    )  # its floor is the -1.5 silence floor, not max - 2
    full_window = np.resize(speech[0], 16000 * 30)  # exactly 30 s: no padding at all
    return [*speech, near_silence, full_window]


def test_batch_padded_features_equal_the_extractors_own_padded_output(extractor, clips):
    compact = compact_log_mel(clips, extractor)
    batch = pad_log_mel(compact, window_frames=extractor.nb_max_frames)
    reference = extractor(clips, sampling_rate=16000, return_tensors="np").input_features
    assert batch.shape == reference.shape == (len(clips), 80, 3000)
    np.testing.assert_allclose(batch, reference, rtol=0, atol=FLOAT16_TOLERANCE)


def test_padding_frames_are_each_clips_floor_not_zero(extractor, clips):
    compact = compact_log_mel(clips[:1], extractor)
    batch = pad_log_mel(compact, window_frames=3000)
    tail = batch[0, :, compact[0].shape[0] :]
    assert np.all(tail == pytest.approx(float(compact[0].astype(np.float32).max()) - 2.0))
    assert not np.any(tail == 0.0)


def test_only_frames_that_see_audio_are_stored_in_float16(extractor, clips):
    compact = compact_log_mel(clips, extractor)
    for clip, features in zip(clips, compact, strict=True):
        assert features.dtype == np.float16
        assert features.shape == (min(math.ceil((len(clip) + 200) / 160), 3000), 80)
        assert features.shape[0] == frames_seeing_audio(len(clip), extractor)


def test_stored_bytes_per_clip_are_far_below_the_seeds_layout(extractor, clips):
    seed_bytes = 80 * 3000 * 4
    for features in compact_log_mel(clips[:4], extractor):
        assert features.nbytes < seed_bytes / 5


def test_a_clip_longer_than_the_window_cannot_be_padded():
    with pytest.raises(ValueError, match="more than the 3000-frame window"):
        pad_log_mel([np.zeros((3001, 80), np.float16)], window_frames=3000)
