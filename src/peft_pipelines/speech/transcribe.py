"""Transcribing with a Whisper model (with or without an adapter): log-mel clips, or recordings of any length.

Used alike by the evaluation node and the ``whisper-zh-transcribe`` CLI, each
decoding with one :class:`peft_pipelines.speech.decoding.DecodingOptions`.
Audio within one window is decoded in one go; longer audio goes through
transformers' own long-form decoding (timestamps, window after window, each
starting where the last complete segment ended), so no window is cut in the
middle of a word. Non-speech is never decoded: Whisper given none invents
some, one phrase per window. A voice activity detector
(:mod:`peft_pipelines.speech.vad`) finds the speech; only that is decoded,
joined into chunks of at most the window, as faster-whisper decodes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from peft import PeftModel
from transformers import PretrainedConfig, PreTrainedModel, WhisperProcessor, WhisperTokenizer

from peft_pipelines.io.model_datasets import AdapterLoadError, load_adapter
from peft_pipelines.speech.audio import UndecodableAudioError, stream_mono
from peft_pipelines.speech.collator import encoder_window_frames
from peft_pipelines.speech.decoding import NO_SPEECH, DecodingOptions, Transcript
from peft_pipelines.speech.features import compact_log_mel, pad_log_mel
from peft_pipelines.speech.vad import (
    BlockSpeech,
    speech_chunks,
    speech_of_stream,
    speech_regions,
)

FRAMES_PER_SECOND = 100  # Whisper's log-mel hop: 10 ms
# A unit of 1-12 characters said four or more times in a row is a decoder stuck in a
# loop, not speech ("奶奶" is a word; "奶奶奶奶奶奶" is not): one copy is kept.
_REPEATED_UNIT = re.compile(r"(.{1,12}?)\1{3,}", re.DOTALL)
# openai-whisper's fallback rule for long audio: a window whose text compresses too well
# (a loop) or whose tokens are too unlikely is decoded again at a higher temperature.
LONG_FORM_FALLBACK = {
    "temperature": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    "compression_ratio_threshold": 1.35,  # on token ids: openai-whisper's 2.4 on text
    "logprob_threshold": -1.0,
    "condition_on_prev_tokens": False,
}
# Windows of a file read and searched for speech at a time: memory stays that of a few
# windows whatever the file's length (the detector copies its input about twice).
FILE_BLOCK_WINDOWS = 2


def load_transcriber(folder: Path) -> tuple[PeftModel, WhisperProcessor]:
    """A trained adapter on its base with the model's full window, in eval mode, and the base's processor.

    Raises :class:`peft_pipelines.io.model_datasets.AdapterLoadError` naming
    what could not be loaded: the adapter, its base model or the processor.
    """
    model = load_adapter(folder, window_seconds=None)
    base = model.peft_config[model.active_adapter].base_model_name_or_path
    try:
        processor = WhisperProcessor.from_pretrained(base)
    except Exception as error:
        raise AdapterLoadError(
            f"cannot load the processor of base model {base}: {error}"
        ) from error
    model.eval()
    return model, processor


def whisper_config(model: PreTrainedModel | PeftModel) -> PretrainedConfig:
    """The Whisper config of a model, with or without a PEFT adapter around it."""
    return model.get_base_model().config if isinstance(model, PeftModel) else model.config


def token_budget(n_frames: int, tokens_per_second: float, max_new_tokens: int) -> int:
    """New tokens a clip of ``n_frames`` log-mel frames may need: its length x a rate, plus 8.

    Mandarin is spoken at 3-6 characters a second and Whisper's tokenizer
    spends one or two tokens a character, so 8 tokens a second is generous
    for speech and stops a looping decoder at the length the audio could hold.
    """
    return min(max_new_tokens, 8 + math.ceil(n_frames / FRAMES_PER_SECOND * tokens_per_second))


def collapse_repetitions(text: str) -> tuple[str, bool]:
    """``text`` with every run of 4+ repeats of a unit cut to one copy, and whether one was cut."""
    collapsed = _REPEATED_UNIT.sub(r"\1", text)
    return collapsed, collapsed != text


def generate_transcripts(
    model: PreTrainedModel | PeftModel,
    tokenizer: WhisperTokenizer,
    compact_features: Sequence[np.ndarray],
    options: DecodingOptions,
    *,
    loops: list[bool] | None = None,
) -> list[str]:
    """Greedy transcripts of a batch of compact log-mel clips (``n_frames x n_mels`` each).

    The clips are padded to the model's own window (:func:`encoder_window_frames`)
    and decoded with the options' language/task prompt forced, for at most
    :func:`token_budget` new tokens of the longest clip; runs of repeats are
    collapsed (:func:`collapse_repetitions`). ``loops``, if given, receives
    one flag per clip: whether its text was a loop that had to be cut.
    """
    config = whisper_config(model)
    clips = [np.asarray(c) for c in compact_features]
    batch = pad_log_mel(clips, encoder_window_frames(config))
    budget = token_budget(
        max(len(c) for c in clips), options.tokens_per_second, options.max_new_tokens
    )
    with torch.no_grad():
        ids = model.generate(
            input_features=torch.from_numpy(batch).to(model.device),
            language=options.language,
            task=options.task,
            max_new_tokens=budget,
            use_cache=True,  # the training core turns the cache off in the model's config
        )
    texts = []
    for text in tokenizer.batch_decode(ids, skip_special_tokens=True):
        collapsed, looped = collapse_repetitions(text)
        texts.append(collapsed)
        if loops is not None:
            loops.append(looped)
    return texts


def transcribe_features(
    model: PreTrainedModel | PeftModel,
    tokenizer: WhisperTokenizer,
    clips: Sequence[np.ndarray],
    options: DecodingOptions,
    *,
    speech: Sequence[bool] | None = None,
) -> list[Transcript]:
    """Transcripts of compact log-mel clips, ``options.batch_size`` at a time, in order.

    A clip whose flag in ``speech`` is false (the detector heard no speech in
    its audio: :func:`peft_pipelines.speech.vad.has_speech`) is not decoded:
    its text is "". ``speech=None`` decodes every clip. ``options.vad`` is not
    used here: clips are features, the detector hears audio.
    """
    results: list[Transcript] = [NO_SPEECH] * len(clips)
    spoken = [i for i in range(len(clips)) if speech is None or speech[i]]
    for start in range(0, len(spoken), options.batch_size):
        batch = spoken[start : start + options.batch_size]
        loops: list[bool] = []
        texts = generate_transcripts(
            model, tokenizer, [clips[i] for i in batch], options, loops=loops
        )
        for index, text, looped in zip(batch, texts, loops, strict=True):
            results[index] = Transcript(text=text.strip(), loop_cut=looped, no_speech=False)
    return results


def window_samples(model: PreTrainedModel | PeftModel, processor: WhisperProcessor) -> int:
    """How many 16 kHz samples the model's encoder window holds."""
    return encoder_window_frames(whisper_config(model)) * processor.feature_extractor.hop_length


def _decode_long_form(
    model: PreTrainedModel | PeftModel,
    processor: WhisperProcessor,
    samples: np.ndarray,
    options: DecodingOptions,
) -> Transcript:
    """transformers' long-form decoding (timestamps, window after window, temperature fallback)."""
    extractor = processor.feature_extractor
    inputs = extractor(
        samples,
        sampling_rate=extractor.sampling_rate,
        truncation=False,
        padding="longest",
        return_attention_mask=True,
        return_tensors="pt",
    )
    torch.manual_seed(0)  # the fallback samples: the same file gives the same text
    with torch.no_grad():
        ids = model.generate(
            input_features=inputs["input_features"].to(model.device),
            attention_mask=inputs["attention_mask"].to(model.device),
            language=options.language,
            task=options.task,
            return_timestamps=True,
            use_cache=True,
            **LONG_FORM_FALLBACK,
        )
    collapsed, looped = collapse_repetitions(
        processor.tokenizer.batch_decode(ids, skip_special_tokens=True)[0]
    )
    return Transcript(text=collapsed.strip(), loop_cut=looped, no_speech=False)


def transcribe_recordings(
    model: PreTrainedModel | PeftModel,
    processor: WhisperProcessor,
    recordings: Sequence[np.ndarray],
    options: DecodingOptions,
) -> list[Transcript]:
    """Transcripts of 16 kHz mono recordings of any length, in order.

    The detector (``options.vad``) finds each recording's speech; its regions,
    joined into chunks of at most the model's window
    (:func:`peft_pipelines.speech.vad.speech_chunks`), are decoded in batches
    of ``options.batch_size`` and their texts joined. A recording with no
    speech is not decoded: its text is "". ``vad=None`` decodes each
    recording whole (:func:`transcribe_whole`).
    """
    if options.vad is None:
        return transcribe_whole(model, processor, recordings, options)
    window_seconds = window_samples(model, processor) / processor.feature_extractor.sampling_rate
    chunks_of = [
        speech_chunks(r, speech_regions(r, options.vad, window_seconds), window_seconds)
        for r in recordings
    ]
    decoded = iter(
        transcribe_whole(
            model, processor, [chunk for chunks in chunks_of for chunk in chunks], options
        )
    )
    return [join_chunk_transcripts([next(decoded) for _ in chunks]) for chunks in chunks_of]


def join_chunk_transcripts(parts: Sequence[Transcript]) -> Transcript:
    """One transcript of the chunks of one recording: texts joined by a space; none: no speech."""
    if not parts:
        return NO_SPEECH
    return Transcript(
        text=" ".join(part.text for part in parts if part.text),
        loop_cut=any(part.loop_cut for part in parts),
        no_speech=False,
    )


def transcribe_whole(
    model: PreTrainedModel | PeftModel,
    processor: WhisperProcessor,
    recordings: Sequence[np.ndarray],
    options: DecodingOptions,
) -> list[Transcript]:
    """Transcripts of 16 kHz mono recordings, each decoded whole, in order (``options.vad`` unused).

    Recordings within the model's window are decoded in batches by
    :func:`generate_transcripts` (greedy decoding gives each the text it gets
    alone; the decoder's steps are shared); longer ones one at a time through
    transformers' long-form decoding with timestamps and openai-whisper's
    temperature fallback (:data:`LONG_FORM_FALLBACK`), repeats collapsed after.
    """
    window_frames = encoder_window_frames(whisper_config(model))
    window = window_samples(model, processor)
    short = [i for i, recording in enumerate(recordings) if len(recording) <= window]
    # A full window's last two frames only see its final samples; the encoder takes window_frames.
    compact = [
        frames[:window_frames]
        for frames in compact_log_mel([recordings[i] for i in short], processor.feature_extractor)
    ]
    transcribed = transcribe_features(model, processor.tokenizer, compact, options)
    results: dict[int, Transcript] = dict(zip(short, transcribed, strict=True))
    for index, samples in enumerate(recordings):
        if index not in results:
            results[index] = _decode_long_form(model, processor, samples, options)
    return [results[index] for index in range(len(recordings))]


def transcribe_samples(
    model: PreTrainedModel | PeftModel,
    processor: WhisperProcessor,
    samples: np.ndarray,
    options: DecodingOptions,
) -> tuple[str, int, bool]:
    """One recording (:func:`transcribe_recordings`): its text, the windows it spans, the loop flag."""
    (heard,) = transcribe_recordings(model, processor, [samples], options.replace(batch_size=1))
    windows = max(1, math.ceil(len(samples) / window_samples(model, processor)))
    return heard.text, windows, heard.loop_cut


@dataclass(frozen=True)
class Segment:
    """A stretch of a file that was decoded in one go: from ``start`` to ``end`` seconds, and its text."""

    start: float
    end: float
    text: str


@dataclass
class FileTranscript:
    """What :func:`transcribe_file` heard: the text, the file's seconds and how many held speech.

    ``segments`` are the speech chunks decoded, each with its start and end in
    the file (the first and last speech region it joins), in order.
    """

    text: str
    seconds: float
    speech_seconds: float
    loops_cut: int
    segments: list[Segment] = field(default_factory=list)

    @property
    def skipped_seconds(self) -> float:
        """Seconds the detector found no speech in, not decoded."""
        return max(0.0, self.seconds - self.speech_seconds)


class ClipTranscriber(Protocol):
    """An engine that decodes clips of at most a window each: the transformers model or a CTranslate2 export.

    What happens around it (reading files a block at a time, the detector,
    joining speech into chunks, timestamps) is written once, here, for every engine.
    """

    @property
    def sampling_rate(self) -> int: ...

    @property
    def window_samples(self) -> int: ...

    def transcribe_clips(
        self, samples: Sequence[np.ndarray], options: DecodingOptions
    ) -> list[Transcript]: ...


@dataclass
class TransformersTranscriber:
    """A transformers Whisper (with or without an adapter) and its processor, as a :class:`ClipTranscriber`."""

    model: PreTrainedModel | PeftModel
    processor: WhisperProcessor

    @property
    def sampling_rate(self) -> int:
        return int(self.processor.feature_extractor.sampling_rate)

    @property
    def window_samples(self) -> int:
        return window_samples(self.model, self.processor)

    def transcribe_clips(
        self, samples: Sequence[np.ndarray], options: DecodingOptions
    ) -> list[Transcript]:
        """:func:`transcribe_whole`: each clip whole, in batches of ``options.batch_size``."""
        return transcribe_whole(self.model, self.processor, samples, options)


@dataclass
class _PendingChunk:
    file: int
    span: tuple[float, float]
    samples: np.ndarray


def _decode_pending(
    transcriber: ClipTranscriber,
    pending: list[_PendingChunk],
    heard: list[FileTranscript | UndecodableAudioError],
    options: DecodingOptions,
) -> None:
    """Decode the chunks read so far (of any files) in one call, adding each text to its file."""
    if not pending:
        return
    transcripts = transcriber.transcribe_clips([chunk.samples for chunk in pending], options)
    for chunk, transcript in zip(pending, transcripts, strict=True):
        target = heard[chunk.file]
        assert isinstance(target, FileTranscript)  # only files that were read have chunks
        target.loops_cut += transcript.loop_cut
        if transcript.text:
            target.segments.append(Segment(*chunk.span, transcript.text))
    pending.clear()


def _read_speech(
    transcriber: ClipTranscriber, path: Path, options: DecodingOptions, block_windows: int
) -> Iterator[BlockSpeech]:
    """The speech of a file, a block of ``block_windows`` windows at a time (every block whole if ``vad`` is None)."""
    rate, window = transcriber.sampling_rate, transcriber.window_samples
    blocks = stream_mono(path, rate, window * block_windows)
    if options.vad is not None:
        return speech_of_stream(blocks, options.vad, window / rate)
    return _whole_blocks(blocks, rate)


def _whole_blocks(blocks: Iterator[np.ndarray], rate: int) -> Iterator[BlockSpeech]:
    read = 0
    for block in blocks:
        span = (read / rate, (read + len(block)) / rate)
        yield BlockSpeech([block], len(block), len(block), [span])
        read += len(block)


def transcribe_files(
    transcriber: ClipTranscriber,
    paths: Sequence[Path],
    options: DecodingOptions,
    *,
    block_windows: int = FILE_BLOCK_WINDOWS,
) -> list[FileTranscript | UndecodableAudioError]:
    """Audio files of any length, in order: what each holds, or why it could not be read.

    Each file is read ``block_windows`` windows at a time; the detector
    (``options.vad``) finds the speech (:func:`peft_pipelines.speech.vad.speech_of_stream`)
    and only that is decoded, in chunks of at most the window. Chunks of
    several files are decoded together, at least ``options.batch_size`` at a
    time when there are that many, so short files share batches; memory stays
    that of a batch of chunks whatever the files' lengths. ``vad=None``
    decodes every block whole. A file that is not audio is its
    :class:`peft_pipelines.speech.audio.UndecodableAudioError`; the others are still transcribed.
    """
    heard: list[FileTranscript | UndecodableAudioError] = []
    pending: list[_PendingChunk] = []
    for index, path in enumerate(paths):
        file = FileTranscript(text="", seconds=0.0, speech_seconds=0.0, loops_cut=0)
        heard.append(file)
        rate = transcriber.sampling_rate
        try:
            for block in _read_speech(transcriber, path, options, block_windows):
                file.seconds += block.samples_read / rate
                file.speech_seconds += block.speech_samples / rate
                pending.extend(
                    _PendingChunk(index, span, chunk)
                    for chunk, span in zip(block.chunks, block.spans, strict=True)
                )
                if len(pending) >= options.batch_size:
                    _decode_pending(transcriber, pending, heard, options)
        except UndecodableAudioError as error:
            pending[:] = [chunk for chunk in pending if chunk.file != index]
            heard[index] = error
    _decode_pending(transcriber, pending, heard, options)
    for file in heard:
        if isinstance(file, FileTranscript):
            file.text = " ".join(segment.text for segment in file.segments)
    return heard


def transcribe_file(
    model: PreTrainedModel | PeftModel,
    processor: WhisperProcessor,
    path: Path,
    options: DecodingOptions,
    *,
    block_windows: int = FILE_BLOCK_WINDOWS,
) -> FileTranscript:
    """An audio file of any length with a transformers model (:func:`transcribe_files` of one file).

    Raises :class:`peft_pipelines.speech.audio.UndecodableAudioError` for a
    file that is not audio.
    """
    (heard,) = transcribe_files(
        TransformersTranscriber(model, processor), [path], options, block_windows=block_windows
    )
    if isinstance(heard, UndecodableAudioError):
        raise heard
    return heard
