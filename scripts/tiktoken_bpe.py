"""tiktoken BPE ranks -> Hugging Face byte-level BPE (vocab and merges), shared by the asset scripts.

transformers' own converter script is not part of its wheel, and its
``TikTokenConverter`` lists every possible split of a token as a merge; here
each token's single merge pair is found by replaying byte-pair merges up to
its rank, which reproduces the original merges.txt exactly.
"""

from __future__ import annotations

import base64
from pathlib import Path

from transformers.convert_slow_tokenizer import bytes_to_unicode


def read_tiktoken_ranks(tiktoken_file: Path, expected_tokens: int) -> dict[bytes, int]:
    """The BPE ranks of a ``.tiktoken`` file: one ``base64(token) rank`` a line.

    Parsed here as whisper/tokenizer.py does, not with ``tiktoken.load.load_tiktoken_bpe``
    (what transformers' ``TikTokenConverter.load_tiktoken_bpe`` wraps): that caches by
    path in the temp folder and would silently reuse an old copy of a changed file.
    """
    ranks: dict[bytes, int] = {}
    for line in tiktoken_file.read_bytes().splitlines():
        if line.strip():
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    if len(ranks) != expected_tokens or sorted(ranks.values()) != list(range(expected_tokens)):
        raise SystemExit(
            f"{tiktoken_file}: expected ranks 0..{expected_tokens - 1}, got {len(ranks)} tokens"
        )
    return ranks


def _bpe(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    """Replay the byte-pair merges of ``token`` in rank order, stopping before ``max_rank``.

    Run with ``max_rank`` = the token's own rank, it leaves the two parts whose
    merge creates the token: that pair is the token's line in merges.txt.
    """
    parts = [bytes([b]) for b in token]
    while True:
        min_idx: int | None = None
        min_rank: int | None = None
        for i, (left, right) in enumerate(zip(parts[:-1], parts[1:], strict=True)):
            rank = ranks.get(left + right)
            if rank is not None and (min_rank is None or rank < min_rank):
                min_idx, min_rank = i, rank
        if min_idx is None or min_rank is None or min_rank >= max_rank:
            return parts
        parts = [*parts[:min_idx], parts[min_idx] + parts[min_idx + 1], *parts[min_idx + 2 :]]


def bpe_vocab_and_merges(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """GPT-2 style vocab.json and merges.txt contents from tiktoken ranks."""
    byte_encoder = bytes_to_unicode()

    def to_str(token: bytes) -> str:
        return "".join(byte_encoder[b] for b in token)

    vocab: dict[str, int] = {}
    merges: list[tuple[str, str]] = []
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        vocab[to_str(token)] = rank
        if len(token) < 2:
            continue
        parts = _bpe(ranks, token, max_rank=rank)
        if len(parts) == 2:  # a token no merge makes (multilingual's empty rank 50256) has no line
            merges.append((to_str(parts[0]), to_str(parts[1])))
    if len(vocab) != len(ranks):
        raise SystemExit(f"byte-to-unicode mapping collided: {len(vocab)} distinct tokens")
    return vocab, merges
