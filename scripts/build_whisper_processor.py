"""Build ``data/01_raw/whisper_processor``: openai/whisper-large-v2's ``WhisperProcessor``, offline.

Why this exists
---------------
The pipelines need Whisper's tokenizer and feature extractor, but this project
runs where the Hugging Face Hub cannot be reached, so
``WhisperProcessor.from_pretrained("openai/whisper-large-v2")`` is not an
option. The vocabulary itself is public: the PyPI package ``openai-whisper``
(MIT licence) ships it as ``whisper/assets/multilingual.tiktoken``. This script
rebuilds the Hugging Face files from that file (transformers' own converter
script is not part of its wheel, so the rank-to-merges step is done here: each
token's merge pair is found by replaying byte-pair merges up to its rank), and
checks the result against ``tiktoken`` before it replaces anything.

What it produces (ids identical to openai/whisper-large-v2)
-----------------------------------------------------------
* 0..50256: the byte-level BPE tokens, vocab and merges reconstructed from the
  tiktoken ranks (GPT-2 byte-to-unicode mapping);
* 50257 ``<|endoftext|>`` (also bos/eos/unk/pad), 50258 ``<|startoftranscript|>``,
  50259..50357 the 99 language tokens of large-v2 (``<|en|>``, ``<|zh|>``, ...;
  large-v3's 100th, ``<|yue|>``, is left out), 50358 ``<|translate|>``,
  50359 ``<|transcribe|>``, 50360 ``<|startoflm|>``, 50361 ``<|startofprev|>``,
  50362 the no-speech token (``<|nocaptions|>``, the spelling of the Hub's
  large-v2 files; ``--no-speech-token '<|nospeech|>'`` for openai-whisper's
  newer spelling), 50363 ``<|notimestamps|>``;
* 50364..51864 the timestamp tokens ``<|0.00|>``..``<|30.00|>`` (added, not special,
  as on the Hub);
* ``WhisperFeatureExtractor``: 80 mel bins, 16 kHz, hop 160, 30 s chunks, n_fft 400;
* ``normalizer.json``: Whisper's English spelling normaliser (also MIT, from the same package).

The files are checked in a fresh process with ``HF_HUB_OFFLINE=1`` before they
replace the output folder; any failed check exits non-zero and leaves it untouched.

Regenerate
----------
    .venv/bin/pip install --no-deps openai-whisper==20250625
    .venv/bin/pip install tiktoken
    .venv/bin/python scripts/build_whisper_processor.py            # -> data/01_raw/whisper_processor

``--tiktoken-file PATH`` uses a given ``multilingual.tiktoken`` instead of the
installed package's; ``--verify-only`` re-checks an existing folder.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import tiktoken
from tiktoken_bpe import bpe_vocab_and_merges, read_tiktoken_ranks
from transformers import (
    AddedToken,
    WhisperFeatureExtractor,
    WhisperProcessor,
    WhisperTokenizer,
)
from transformers.models.whisper.tokenization_whisper import LANGUAGES

DEFAULT_OUT = Path("data/01_raw/whisper_processor")

# openai/whisper-large-v2: multilingual, 99 languages, 30 s windows of 0.02 s timestamps.
NUM_LANGUAGES = 99
NUM_TIMESTAMPS = 1501
TIME_PRECISION = 0.02
VOCAB_SIZE = 51865
N_BPE_TOKENS = 50257
NO_SPEECH_SPELLINGS = ("<|nocaptions|>", "<|nospeech|>")

# Whisper's pre-tokenizer regex (whisper/tokenizer.py: get_encoding); it is GPT-2's,
# which is what the ByteLevel pre-tokenizer of transformers' WhisperTokenizer applies.
WHISPER_PAT_STR = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# Files this script writes, and stale ones an older transformers may have left in the folder.
MANAGED_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "normalizer.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
)

TEST_STRINGS = (
    "Hello, world! This is a test.",
    "今天天气很好",
    "你好世界",
    "我们去公园散步吧，好吗？",
    "我用iPhone 15 Pro拍了3张照片, cost $999.99!",
    "It's a dog's life, isn't it? They'll say we'd've known.",
    "Punctuation... !!! ??? ;;; --- (brackets) [square] {curly} «quotes» “smart” — dash",
    "Emoji: 👍🎉😀 🇨🇳 👨‍👩‍👧‍👦",
    "日本語のテキストです。한국어 텍스트입니다. Русский текст. العربية",
    "  leading and trailing spaces   ",
    "tabs\tand\nnew\n\nlines\r\n",
    "café naïve façade Ångström",
    "1234567890 3.14159 1,000,000 2024-05-01",
    "<|notatoken|> <| |> |> <|",
    "\u200b zero width \ufeff and combining e\u0301",
    " 。，、！？",
)


def find_whisper_package() -> Path | None:
    """The installed ``whisper`` package folder, found without importing it (it imports torch and numba)."""
    spec = importlib.util.find_spec("whisper")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def default_tiktoken_file() -> Path:
    package = find_whisper_package()
    if package is None:
        raise SystemExit(
            "openai-whisper is not installed: `.venv/bin/pip install --no-deps openai-whisper==20250625`, "
            "or pass --tiktoken-file PATH/TO/multilingual.tiktoken"
        )
    return package / "assets" / "multilingual.tiktoken"


def default_normalizer_file() -> Path | None:
    package = find_whisper_package()
    if package is None:
        return None
    path = package / "normalizers" / "english.json"
    return path if path.is_file() else None


def whisper_languages() -> list[str]:
    """Language codes in Whisper's token order, from transformers, cross-checked with openai-whisper's list."""
    codes = list(LANGUAGES)
    package = find_whisper_package()
    if package is not None and (package / "tokenizer.py").is_file():
        tree = ast.parse((package / "tokenizer.py").read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "LANGUAGES" for t in node.targets
            ):
                theirs = list(ast.literal_eval(node.value))
                if theirs[: len(codes)] != codes[: len(theirs)]:
                    raise SystemExit("transformers' and openai-whisper's LANGUAGES differ in order")
    if len(codes) < NUM_LANGUAGES or codes[:2] != ["en", "zh"]:
        raise SystemExit(f"unexpected transformers LANGUAGES: {codes[:5]}... ({len(codes)} codes)")
    return codes[:NUM_LANGUAGES]


def special_tokens(no_speech_token: str) -> list[str]:
    """Whisper's special tokens (all but the timestamps), in id order from 50257."""
    return [
        "<|endoftext|>",
        "<|startoftranscript|>",
        *[f"<|{code}|>" for code in whisper_languages()],
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        no_speech_token,
        "<|notimestamps|>",
    ]


def timestamp_tokens() -> list[str]:
    return [f"<|{i * TIME_PRECISION:.2f}|>" for i in range(NUM_TIMESTAMPS)]


def load_ranks(tiktoken_file: Path) -> dict[bytes, int]:
    return read_tiktoken_ranks(tiktoken_file, N_BPE_TOKENS)


def vocab_and_merges(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    return bpe_vocab_and_merges(ranks)


def build_tokenizer(
    ranks: dict[bytes, int], no_speech_token: str, normalizer_file: Path | None
) -> WhisperTokenizer:
    vocab, merges = vocab_and_merges(ranks)
    endoftext = "<|endoftext|>"
    tokenizer = WhisperTokenizer(
        vocab=vocab,
        merges=merges,
        normalizer_file=str(normalizer_file) if normalizer_file else None,
        unk_token=endoftext,
        bos_token=endoftext,
        eos_token=endoftext,
        pad_token=endoftext,
        model_max_length=1024,
    )
    # As convert_tiktoken_to_hf and the Hub's files: control tokens special, timestamps plain added tokens.
    tokenizer.add_special_tokens(
        {
            "additional_special_tokens": [
                AddedToken(t, normalized=False, special=True)
                for t in special_tokens(no_speech_token)
            ]
        }
    )
    tokenizer.add_tokens(timestamp_tokens(), special_tokens=False)
    return tokenizer


def build(
    out_dir: Path, tiktoken_file: Path, no_speech_token: str, normalizer_file: Path | None
) -> None:
    ranks = load_ranks(tiktoken_file)
    tokenizer = build_tokenizer(ranks, no_speech_token, normalizer_file)
    feature_extractor = WhisperFeatureExtractor(
        feature_size=80, sampling_rate=16000, hop_length=160, chunk_length=30, n_fft=400
    )
    processor = WhisperProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".whisper_processor-", dir=out_dir.parent) as tmp:
        staging = Path(tmp)
        processor.save_pretrained(staging)
        if normalizer_file is not None:  # transformers 5 does not write it from save_pretrained
            shutil.copyfile(normalizer_file, staging / "normalizer.json")
        verify_in_fresh_process(staging, tiktoken_file, no_speech_token)
        out_dir.mkdir(exist_ok=True)
        for name in MANAGED_FILES:
            (out_dir / name).unlink(missing_ok=True)
        for path in sorted(staging.iterdir()):
            shutil.move(str(path), out_dir / path.name)
    report_files(out_dir)


def verify_in_fresh_process(out_dir: Path, tiktoken_file: Path, no_speech_token: str) -> None:
    """Re-run this script with --verify-only on ``out_dir``, with the Hub switched off."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--verify-only",
        "--out",
        str(out_dir),
        "--tiktoken-file",
        str(tiktoken_file),
        "--no-speech-token",
        no_speech_token,
    ]
    if subprocess.run(command, env=env, check=False).returncode != 0:
        raise SystemExit("verification failed: the output folder was left unchanged")


def tiktoken_encoding(ranks: dict[bytes, int], no_speech_token: str) -> tiktoken.Encoding:
    """The reference encoding, built as whisper/tokenizer.py's get_encoding builds it."""
    names = special_tokens(no_speech_token) + timestamp_tokens()
    return tiktoken.Encoding(
        name="whisper-multilingual",
        explicit_n_vocab=len(ranks) + len(names),
        pat_str=WHISPER_PAT_STR,
        mergeable_ranks=ranks,
        special_tokens={name: len(ranks) + i for i, name in enumerate(names)},
    )


def sample_strings(encoding: tiktoken.Encoding, seed: int = 0) -> list[str]:
    """Every BPE token that is whole UTF-8 (alone and after a space) plus seeded random mixed-script text."""
    texts: list[str] = []
    for rank in range(N_BPE_TOKENS):
        try:
            text = encoding.decode_single_token_bytes(rank).decode("utf-8")
        except UnicodeDecodeError:
            continue
        texts += [text, " " + text, text + text]
    rng = random.Random(seed)
    alphabet = (
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 '   \n\t.,!?;:-()\"$%&*/"
        "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长"
        "ñéüßøåçàèìòùâêîôûäëïöÿ"
        "ÆŒЖЩЯжщя"
        "αβγδλπΩ"
        "あいうえおカキクケコ"
        "한국어"
        "عربي"
        "हिन्दी"
        "🙂🎉👍🏽‍"
    )
    for _ in range(2000):
        texts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))))
    return texts


class Checks:
    """Prints each check as it runs and remembers the failures."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def __call__(self, ok: bool, what: str) -> None:
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.failures.append(what)


def check_plain_encodings(
    check: Checks, tokenizer: WhisperTokenizer, encoding: tiktoken.Encoding
) -> None:
    """(1) Encodings without special tokens equal tiktoken's, and decode back to the text."""
    for text in TEST_STRINGS:
        ours = tokenizer(text, add_special_tokens=False).input_ids
        theirs = encoding.encode_ordinary(text)
        check(
            ours == theirs,
            f"tiktoken ids for {text!r}: {ours[:12]}{'...' if len(ours) > 12 else ''}",
        )
    texts = sample_strings(encoding)
    ours_batch = tokenizer(texts, add_special_tokens=False).input_ids
    theirs_batch = encoding.encode_ordinary_batch(texts)
    mismatched = [t for t, a, b in zip(texts, ours_batch, theirs_batch, strict=True) if a != b]
    check(
        not mismatched,
        f"tiktoken ids for {len(texts)} vocabulary/random strings (mismatches: {mismatched[:3]!r})",
    )
    decoded = [tokenizer.decode(ids) for ids in ours_batch[:5000]]
    check(decoded == texts[:5000], "decode(encode(text)) == text for 5000 vocabulary strings")


def check_ids(
    check: Checks,
    tokenizer: WhisperTokenizer,
    encoding: tiktoken.Encoding,
    ranks: dict[bytes, int],
    no_speech_token: str,
) -> None:
    """(2) The BPE vocab, and every special and timestamp id, as in whisper's own encoding."""
    check(len(tokenizer) == VOCAB_SIZE, f"len(tokenizer) == {VOCAB_SIZE} ({len(tokenizer)})")
    bpe_vocab = {token: i for token, i in tokenizer.get_vocab().items() if i < N_BPE_TOKENS}
    check(
        bpe_vocab == vocab_and_merges(ranks)[0],
        f"BPE vocab 0..{N_BPE_TOKENS - 1} equals the tiktoken ranks",
    )
    expected = {
        "<|endoftext|>": 50257,
        "<|startoftranscript|>": 50258,
        "<|en|>": 50259,
        "<|zh|>": 50260,
        "<|su|>": 50357,
        "<|translate|>": 50358,
        "<|transcribe|>": 50359,
        "<|startoflm|>": 50360,
        "<|startofprev|>": 50361,
        no_speech_token: 50362,
        "<|notimestamps|>": 50363,
        "<|0.00|>": 50364,
        "<|0.02|>": 50365,
        "<|30.00|>": 51864,
    }
    for token, token_id in expected.items():
        got = tokenizer.convert_tokens_to_ids(token)
        check(got == token_id, f"{token} == {token_id} ({got})")
    names = special_tokens(no_speech_token) + timestamp_tokens()
    wrong = [
        n for n in names if tokenizer.convert_tokens_to_ids(n) != encoding.encode_single_token(n)
    ]
    check(
        not wrong,
        f"all {len(names)} special/timestamp ids equal whisper's tiktoken encoding ({wrong[:3]})",
    )
    check("<|yue|>" not in tokenizer.get_vocab(), "no <|yue|> (a large-v3 token)")
    for name in ("pad_token", "bos_token", "eos_token", "unk_token"):
        check(
            getattr(tokenizer, name) == "<|endoftext|>",
            f"{name} == <|endoftext|> ({getattr(tokenizer, name)})",
        )
    check(
        tokenizer.all_special_ids[-1] == 50363,
        "last special id is <|notimestamps|> (timestamp_begin = 50364)",
    )
    hello = tokenizer.encode("你好", add_special_tokens=False)
    with_times = tokenizer.decode([50364, *hello, 50414], decode_with_timestamps=True)
    check(with_times == "<|0.00|>你好<|1.00|>", f"decode_with_timestamps ({with_times!r})")
    check(
        tokenizer.english_spelling_normalizer is not None,
        "normalizer.json loaded (English spelling normaliser)",
    )


def check_prefix(check: Checks, tokenizer: WhisperTokenizer) -> None:
    """(3) Whisper's prefix for Chinese transcription, and the round trip."""
    tokenizer.set_prefix_tokens(language="zh", task="transcribe")
    ids = tokenizer("你好").input_ids
    check(
        ids[:4] == [50258, 50260, 50359, 50363] and ids[-1] == 50257,
        f"prefix + eos for '你好' ({ids})",
    )
    ids = tokenizer("你好世界").input_ids
    round_trip = tokenizer.decode(ids, skip_special_tokens=True)
    check(round_trip == "你好世界", f"decode(skip_special_tokens=True) round trip ({round_trip!r})")
    full = tokenizer.decode(ids)
    check(
        full == "<|startoftranscript|><|zh|><|transcribe|><|notimestamps|>你好世界<|endoftext|>",
        f"decode with special tokens ({full!r})",
    )


def check_feature_extractor(check: Checks, processor: WhisperProcessor) -> None:
    """(4) large-v2's log-mel settings, and the shape of the features."""
    extractor = processor.feature_extractor
    names = (
        "feature_size",
        "sampling_rate",
        "hop_length",
        "chunk_length",
        "n_fft",
        "n_samples",
        "nb_max_frames",
    )
    settings = {name: getattr(extractor, name) for name in names}
    expected = dict(zip(names, (80, 16000, 160, 30, 400, 480000, 3000), strict=True))
    check(settings == expected, f"feature extractor settings {settings}")
    tone = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32)
    features = processor(audio=tone, sampling_rate=16000, return_tensors="np").input_features
    check(
        features.shape == (1, 80, 3000),
        f"log-mel of 1 s of audio has shape (1, 80, 3000) ({features.shape})",
    )


def verify(out_dir: Path, tiktoken_file: Path, no_speech_token: str) -> None:
    """Load ``out_dir`` as a WhisperProcessor and check it against tiktoken; exit non-zero on any failure."""
    check = Checks()
    processor = WhisperProcessor.from_pretrained(str(out_dir))
    tokenizer = processor.tokenizer
    extractor = processor.feature_extractor
    check(
        isinstance(tokenizer, WhisperTokenizer),
        f"tokenizer is a WhisperTokenizer ({type(tokenizer).__name__})",
    )
    check(
        isinstance(extractor, WhisperFeatureExtractor),
        f"feature extractor is a WhisperFeatureExtractor ({type(extractor).__name__})",
    )
    ranks = load_ranks(tiktoken_file)
    encoding = tiktoken_encoding(ranks, no_speech_token)
    check_plain_encodings(check, tokenizer, encoding)
    check_ids(check, tokenizer, encoding, ranks, no_speech_token)
    check_prefix(check, tokenizer)
    check_feature_extractor(check, processor)
    if check.failures:
        print(
            f"\n{len(check.failures)} check(s) FAILED:",
            *check.failures,
            sep="\n  ",
            file=sys.stderr,
        )
        raise SystemExit(1)
    print(f"\nall checks passed for {out_dir}")


def report_files(out_dir: Path) -> None:
    files: Iterable[Path] = sorted(p for p in out_dir.iterdir() if p.is_file())
    total = 0
    for path in files:
        size = path.stat().st_size
        total += size
        print(f"{size:>10,d}  {path}")
    print(f"{total:>10,d}  total")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--tiktoken-file",
        type=Path,
        default=None,
        help="Whisper's multilingual.tiktoken (default: the one in the installed openai-whisper package)",
    )
    parser.add_argument(
        "--normalizer-file",
        type=Path,
        default=None,
        help="Whisper's English spelling normaliser JSON (default: the installed package's normalizers/english.json)",
    )
    parser.add_argument(
        "--no-speech-token",
        choices=NO_SPEECH_SPELLINGS,
        default=NO_SPEECH_SPELLINGS[0],
        help="spelling of token 50362 (default: <|nocaptions|>, as in the Hub's openai/whisper-large-v2)",
    )
    parser.add_argument(
        "--verify-only", action="store_true", help="only check an existing --out folder"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tiktoken_file: Path = args.tiktoken_file or default_tiktoken_file()
    if not tiktoken_file.is_file():
        raise SystemExit(f"no such file: {tiktoken_file}")
    if args.verify_only:
        verify(args.out, tiktoken_file, args.no_speech_token)
        return
    print(
        f"vocabulary: {tiktoken_file} (sha256 {hashlib.sha256(tiktoken_file.read_bytes()).hexdigest()})"
    )
    normalizer_file: Path | None = args.normalizer_file or default_normalizer_file()
    if normalizer_file is None:
        print(
            "warning: no English normaliser JSON found; normalizer.json is left out",
            file=sys.stderr,
        )
    elif not normalizer_file.is_file():
        raise SystemExit(f"no such file: {normalizer_file}")
    build(args.out, tiktoken_file, args.no_speech_token, normalizer_file)


if __name__ == "__main__":
    main()
