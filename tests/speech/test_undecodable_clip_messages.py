"""A clip that does not decode is named by its path in every message, never by a Python object."""

from __future__ import annotations

import pytest
from datasets import Dataset, DatasetDict

from peft_pipelines.data_quality import EmptySplitError
from peft_pipelines.errors import UserError
from peft_pipelines.speech.audio import UndecodableAudioError, decode_to_mono, stream_mono
from peft_pipelines.speech.nodes import resample_to_16k

WINDOW = {"seconds": 30.0, "samples": 480_000, "frames": 3000, "sampling_rate": 16000}


def test_a_split_of_zero_byte_clips_names_a_clip_in_its_one_line():
    rows = Dataset.from_dict(
        {"path": ["first.mp3", "second.mp3"], "sentence": ["你好", "再见"], "audio": [b""] * 2}
    )
    with pytest.raises(EmptySplitError) as stopped:
        resample_to_16k(DatasetDict({"test": rows}), {"sampling_rate": 16000}, WINDOW)
    message = str(stopped.value)
    assert message == (
        "split 'test' has no usable rows (stage resample): all 2 were dropped "
        "(undecodable_audio: 2), e.g. first.mp3: Format not recognised."
    )
    assert isinstance(stopped.value, UserError)


def test_the_decoders_message_holds_no_python_object(tmp_path):
    with pytest.raises(UndecodableAudioError) as from_bytes:
        decode_to_mono(b"not audio", 16000)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(UndecodableAudioError) as from_file:
        next(stream_mono(empty, 16000, 1024))
    for error in (from_bytes.value, from_file.value):
        assert str(error) == "Format not recognised."
