"""A tiny Whisper with random weights, built deterministically with the real tokenizer.

No pretrained Whisper can be had offline, so the offline default starts from
this: the architecture, vocabulary, special tokens and generation settings of
real Whisper at a size that trains in seconds on a CPU. Its weights are random,
so its error rates prove the mechanics (8-bit loading, LoRA, training,
evaluation), not accuracy: every report made with it says ``base_model_random: true``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import (
    GenerationConfig,
    WhisperConfig,
    WhisperForConditionalGeneration,
    WhisperProcessor,
)
from transformers.models.whisper.tokenization_whisper import LANGUAGES

from peft_pipelines.io.model_loading import refuse_to_overwrite_carded_model

LARGE_V2_LANGUAGES = 99  # large-v3 added a 100th (yue); our vocabulary is large-v2's


def whisper_generation_config(
    processor: WhisperProcessor, config: WhisperConfig
) -> GenerationConfig:
    """Whisper's multilingual generation settings (language/task ids, timestamps) from the tokenizer."""
    tokenizer = processor.tokenizer
    ids = tokenizer.convert_tokens_to_ids
    return GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id,
        bos_token_id=ids("<|endoftext|>"),
        eos_token_id=ids("<|endoftext|>"),
        pad_token_id=ids("<|endoftext|>"),
        max_length=config.max_target_positions,
        is_multilingual=True,
        lang_to_id={
            f"<|{code}|>": ids(f"<|{code}|>") for code in list(LANGUAGES)[:LARGE_V2_LANGUAGES]
        },
        task_to_id={"transcribe": ids("<|transcribe|>"), "translate": ids("<|translate|>")},
        no_timestamps_token_id=ids("<|notimestamps|>"),
        prev_sot_token_id=ids("<|startofprev|>"),
        forced_decoder_ids=None,
        suppress_tokens=[],
        begin_suppress_tokens=[ids(" "), ids("<|endoftext|>")],
        return_timestamps=False,
    )


def tiny_whisper_config(processor: WhisperProcessor, architecture: dict[str, Any]) -> WhisperConfig:
    """A ``WhisperConfig`` of the given shape whose vocabulary and special ids are the tokenizer's."""
    tokenizer = processor.tokenizer
    endoftext = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    return WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=processor.feature_extractor.feature_size,
        pad_token_id=endoftext,
        bos_token_id=endoftext,
        eos_token_id=endoftext,
        decoder_start_token_id=tokenizer.convert_tokens_to_ids("<|startoftranscript|>"),
        **architecture,
    )


def build_tiny_whisper(
    processor_dir: str, architecture: dict[str, Any], seed: int, out_dir: str
) -> Path:
    """Build a random-weight Whisper of the given shape (seeded) and save it with its processor.

    ``architecture`` holds ``WhisperConfig`` fields (``d_model``,
    ``encoder_layers``, ``max_source_positions``...); vocabulary size and
    special-token ids come from the tokenizer, so labels and prompts are real
    Whisper's. Returns the folder, loadable with ``from_pretrained``.
    """
    out = Path(out_dir)
    refuse_to_overwrite_carded_model(out)
    processor = WhisperProcessor.from_pretrained(processor_dir)
    config = tiny_whisper_config(processor, architecture)
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = whisper_generation_config(processor, config)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
