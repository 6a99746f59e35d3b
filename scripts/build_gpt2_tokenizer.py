"""Build ``data/01_raw/gpt2_tokenizer``: GPT-2's byte-level BPE tokenizer (OPT's), offline.

Why this exists
---------------
The tests of ``opt_quotes`` train a tiny random OPT, and OPT's tokenizer is
GPT-2's byte-level BPE. The Hub is out of reach here, but the vocabulary is
public: the PyPI package ``openai-whisper`` (MIT licence) ships it as
``whisper/assets/gpt2.tiktoken``. This script turns that file into Hugging Face
tokenizer files (ids 0..50255 the BPE tokens, 50256 ``<|endoftext|>``, as
the Hub's ``gpt2``) and checks them against ``tiktoken`` before anything is
replaced.

Regenerate
----------
    .venv/bin/pip install --no-deps openai-whisper==20250625
    .venv/bin/pip install tiktoken
    .venv/bin/python scripts/build_gpt2_tokenizer.py            # -> data/01_raw/gpt2_tokenizer
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import shutil
import sys
import tempfile
from pathlib import Path

import tiktoken
from tiktoken_bpe import bpe_vocab_and_merges, read_tiktoken_ranks
from transformers import AutoTokenizer, GPT2Tokenizer

DEFAULT_OUT = Path("data/01_raw/gpt2_tokenizer")
N_BPE_TOKENS = 50256
ENDOFTEXT = "<|endoftext|>"
# GPT-2's pre-tokenizer regex (tiktoken_ext/openai_public.py: gpt2).
GPT2_PAT_STR = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
TEST_STRINGS = (
    "Two things are infinite: the universe and human stupidity.",
    "It's a dog's life, isn't it? They'll say we'd've known.",
    "  leading and trailing spaces   ",
    "tabs\tand\nnew\n\nlines\r\n",
    "café naïve façade Ångström “smart quotes” — dash",
    "1234567890 3.14159 1,000,000 2024-05-01",
    "Emoji: 👍🎉 and 中文 and Русский",
)


def default_tiktoken_file() -> Path:
    spec = importlib.util.find_spec("whisper")  # found, not imported: it imports torch and numba
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "openai-whisper is not installed: `.venv/bin/pip install --no-deps openai-whisper==20250625`, "
            "or pass --tiktoken-file PATH/TO/gpt2.tiktoken"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "gpt2.tiktoken"


def build_tokenizer(ranks: dict[bytes, int]) -> GPT2Tokenizer:
    vocab, merges = bpe_vocab_and_merges(ranks)
    vocab[ENDOFTEXT] = N_BPE_TOKENS
    return GPT2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=ENDOFTEXT,
        bos_token=ENDOFTEXT,
        eos_token=ENDOFTEXT,
        model_max_length=1024,
    )


def verify(folder: Path, ranks: dict[bytes, int]) -> list[str]:
    """Encodings equal tiktoken's GPT-2 encoding and decode back; returns the failures."""
    reference = tiktoken.Encoding(
        name="gpt2",
        pat_str=GPT2_PAT_STR,
        mergeable_ranks=ranks,
        special_tokens={ENDOFTEXT: N_BPE_TOKENS},
    )
    tokenizer = AutoTokenizer.from_pretrained(folder)
    failures = []
    if len(tokenizer) != N_BPE_TOKENS + 1:
        failures.append(f"len(tokenizer) == {len(tokenizer)}, not {N_BPE_TOKENS + 1}")
    if tokenizer.eos_token_id != N_BPE_TOKENS:
        failures.append(f"eos id {tokenizer.eos_token_id}")
    rng = random.Random(0)
    texts = list(TEST_STRINGS)
    for rank in range(N_BPE_TOKENS):
        try:
            texts.append(" " + reference.decode_single_token_bytes(rank).decode("utf-8"))
        except UnicodeDecodeError:
            continue
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ 0123456789 .,;:'\"!?-\n\téüß中文"
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))) for _ in range(2000)]
    ours = tokenizer(texts, add_special_tokens=False).input_ids
    theirs = reference.encode_ordinary_batch(texts)
    wrong = [t for t, a, b in zip(texts, ours, theirs, strict=True) if a != b]
    if wrong:
        failures.append(f"{len(wrong)} of {len(texts)} strings encode differently: {wrong[:3]!r}")
    if [tokenizer.decode(ids) for ids in ours[:3000]] != texts[:3000]:
        failures.append("decode(encode(text)) != text")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--tiktoken-file", type=Path, default=None)
    args = parser.parse_args(argv)
    tiktoken_file = args.tiktoken_file or default_tiktoken_file()
    ranks = read_tiktoken_ranks(tiktoken_file, N_BPE_TOKENS)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".gpt2_tokenizer-", dir=args.out.parent) as tmp:
        staging = Path(tmp)
        build_tokenizer(ranks).save_pretrained(staging)
        failures = verify(staging, ranks)
        for failure in failures:
            print(f"FAIL {failure}", file=sys.stderr)
        if failures:
            print("the output folder was left unchanged", file=sys.stderr)
            return 1
        shutil.rmtree(args.out, ignore_errors=True)
        shutil.copytree(staging, args.out)
    for path in sorted(args.out.iterdir()):
        print(f"{path} {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
