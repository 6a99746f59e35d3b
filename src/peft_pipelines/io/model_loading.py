"""Loading what a base-model manifest describes: the model, quantized and prepared, and its tokenizer.

A base model travels through the catalog as a *manifest* (model id or folder,
revision, architecture, quantization, prepare settings; the
``<pipeline>.base_model_manifest`` dataset): a few hundred bytes that
:func:`load_base_model` turns back into the same prepared model, instead of a
pickle of 8-bit tensors. This is the one place that calls ``from_pretrained``
on a base model, for the catalog's datasets, the training core and the CLIs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from peft import prepare_model_for_kbit_training
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    BitsAndBytesConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    WhisperForConditionalGeneration,
    WhisperProcessor,
)

from peft_pipelines.distributed import local_rank
from peft_pipelines.errors import ConfigurationError
from peft_pipelines.io.base_model_manifest import QUANTIZATIONS, BaseModelManifest
from peft_pipelines.io.model_folders import check_model_folder, is_local_path

logger = logging.getLogger(__name__)


def _not_the_int8_cast_notice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("MatMul8bitLt: inputs will be cast")


# bitsandbytes logs a warning on every 8-bit matmul of a float32 input (tens of thousands
# of lines per run); the cast to float16 is how LLM.int8() works, not a problem to report.
logging.getLogger("bitsandbytes.autograd._functions").addFilter(_not_the_int8_cast_notice)

# One model class per architecture a manifest names (io.base_model_manifest.Architecture).
ARCHITECTURES = {
    "whisper": WhisperForConditionalGeneration,
    "causal_lm": AutoModelForCausalLM,
}


def refuse_to_overwrite_carded_model(folder: Path) -> None:
    """Raise if ``folder`` holds a model card: a random test model must never replace a built one.

    A model card (``README.md``) marks a model someone built on purpose (a
    converted checkpoint); a catalog entry of a random test model pointing at
    the same folder would otherwise overwrite it.
    """
    if (folder / "README.md").is_file():
        raise ConfigurationError(
            f"{folder} holds a model with a model card (README.md); a random test model "
            "would be written there: give its catalog entry another path"
        )


def quantization_config(quantization: str) -> BitsAndBytesConfig | None:
    """``none``: plain float; ``int8``: LLM.int8(); ``nf4``: 4-bit NF4 with double quantization (QLoRA).

    transformers 5 takes quantization only through ``BitsAndBytesConfig``
    (its ``load_in_8bit=`` argument is gone).
    """
    if quantization == "none":
        return None
    if quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    if quantization == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if torch.cuda.is_available() else torch.float32,
        )
    raise ConfigurationError(f"quantization must be one of {QUANTIZATIONS}, not {quantization!r}")


def _int8_layer_in_training_mode(module: torch.nn.Module, _args: tuple) -> None:
    module.training = True
    # peft's DoRA reads an 8-bit weight through dequantize_module_weight, which on a CPU
    # puts back a copy of it (Int8Params.to) holding the int8 values but not their row
    # scales (the layer's state holds those); bitsandbytes' next forward would take the
    # copy's missing scales into its state and fail. The copy gets the layer's scales.
    weight = module.weight
    if getattr(weight, "CB", None) is not None and weight.SCB is None:
        weight.SCB = module.state.SCB


def use_dequantizing_int8_path_on_cpu(model: torch.nn.Module) -> int:
    """Make bitsandbytes' 8-bit layers multiply by dequantizing their weights, in evaluation too.

    On the CPU, bitsandbytes picks the kernel of an 8-bit layer by its
    ``training`` flag: in training it dequantizes the int8 weights and multiplies
    in the input's dtype; in evaluation it also quantizes every input to int8
    through float16, with an outlier split, which CPUs without fast float16 run
    more slowly (10-15 % here; bitsandbytes' own comment says up to 3x).
    A forward pre-hook sets the flag on those layers alone (they hold no dropout),
    so the model still evaluates the same int8 weights, with float32 activations;
    it also keeps a weight's scales through peft's DoRA (see the hook).
    Returns how many layers were hooked (none off the CPU).
    """
    if training_device() != "cpu":
        return 0
    import bitsandbytes as bnb  # noqa: PLC0415 (only 8-bit models need it)

    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear8bitLt)]
    for layer in layers:
        layer.register_forward_pre_hook(_int8_layer_in_training_mode)
    return len(layers)


# Whisper's encoder sees 100 log-mel frames a second and halves them (conv2 has stride 2).
WHISPER_POSITIONS_PER_SECOND = 50


def whisper_encoder(model: torch.nn.Module) -> torch.nn.Module:
    """The encoder of a Whisper model, with or without PEFT wrappers around it."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inner.get_encoder()


def set_whisper_encoder_window(model: torch.nn.Module, seconds: float | None) -> int:
    """Make the encoder take ``seconds`` of audio (``None``: its full table); returns the positions.

    Whisper's encoder adds a fixed position table to every one of its positions,
    so a shorter window is the table's first rows: nothing is retrained, and an
    adapter trained on the short window runs on the full one. The full table is
    kept on the encoder (a buffer that is never saved), so the window can be
    widened again on the same model, e.g. to transcribe long recordings.
    """
    encoder = whisper_encoder(model)
    if not hasattr(encoder, "full_position_table"):
        encoder.register_buffer(
            "full_position_table", encoder.embed_positions.weight.detach().clone(), persistent=False
        )
    table = encoder.full_position_table
    positions = (
        len(table) if seconds is None else int(round(seconds * WHISPER_POSITIONS_PER_SECOND))
    )
    if not 0 < positions <= len(table):
        raise ConfigurationError(
            f"window_seconds {seconds} is outside the model's window of "
            f"{len(table) / WHISPER_POSITIONS_PER_SECOND:g} s"
        )
    current = encoder.embed_positions.weight
    window = torch.nn.Embedding(
        positions, table.shape[1], device=current.device, dtype=current.dtype
    )
    window.weight.data.copy_(table[:positions])
    window.requires_grad_(False)
    encoder.embed_positions = window
    encoder.config.max_source_positions = positions
    return positions


@contextmanager
def whisper_encoder_window(model: torch.nn.Module, seconds: float | None) -> Iterator[int]:
    """Within the block the encoder takes ``seconds`` of audio (``None``: all); then as before."""
    encoder = whisper_encoder(model)
    before = encoder.embed_positions.num_embeddings
    try:
        yield set_whisper_encoder_window(model, seconds)
    finally:
        set_whisper_encoder_window(model, before / WHISPER_POSITIONS_PER_SECOND)


def training_device() -> str:
    """This process's GPU (``LOCAL_RANK``: one per process under torchrun), else the CPU."""
    return f"cuda:{local_rank()}" if torch.cuda.is_available() else "cpu"


def checked_location(manifest: BaseModelManifest) -> str:
    """The manifest's ``name_or_path``; a folder is checked whole first (a missing or cut one raises
    :class:`~peft_pipelines.io.model_folders.ModelFolderError` naming it, not a loader's traceback).
    """
    location = manifest.name_or_path
    if is_local_path(location):
        check_model_folder(Path(location), "restore it, or run the model stages again")
    return location


def load_base_model(manifest: BaseModelManifest) -> PreTrainedModel:
    """Load the model a manifest describes (its folder checked first), quantized and prepared for training.

    ``config_overrides`` are set on ``model.config`` after loading (e.g. the
    seed's ``forced_decoder_ids: null`` and ``suppress_tokens: []``); for
    Whisper, ``window_seconds`` cuts the encoder's input window (see
    :func:`set_whisper_encoder_window`; null: the model's own). Quantized
    models go through ``peft.prepare_model_for_kbit_training`` (the seed's
    ``prepare_model_for_int8_training`` was removed from PEFT): layer norms in
    float32, input gradients enabled so checkpointing works with frozen embeddings.
    """
    quantization = manifest.quantization
    model = ARCHITECTURES[manifest.architecture].from_pretrained(
        checked_location(manifest),
        revision=manifest.revision,
        quantization_config=quantization_config(quantization),
        # An unquantized base trains in float32 (mixed precision, if any, is the Trainer's
        # fp16/bf16 setting), whatever precision its checkpoint was saved in.
        dtype=torch.float32 if quantization == "none" else None,
        device_map={"": training_device()},
    )
    for key, value in manifest.config_overrides.items():
        setattr(model.config, key, value)
        if model.generation_config is not None and hasattr(model.generation_config, key):
            setattr(model.generation_config, key, value)
    model.config.use_cache = (
        False  # the decoder cache is useless in training and clashes with checkpointing
    )
    if manifest.architecture == "whisper":
        # Whisper's forward takes **kwargs but averages its loss over its own batch, ignoring
        # the Trainer's token count; told otherwise, the Trainer multiplies that loss by the
        # number of processes, which under DDP doubles (x N) the loss and gradients it sees.
        model.accepts_loss_kwargs = False
        if manifest.window_seconds:
            set_whisper_encoder_window(model, float(manifest.window_seconds))
    checkpointing = manifest.gradient_checkpointing
    if quantization != "none":
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
        )
    elif checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if quantization == "int8":
        use_dequantizing_int8_path_on_cpu(model)
    logger.info(
        "Loaded %s (%s, %s) on %s",
        manifest.name_or_path,
        manifest.architecture,
        quantization,
        training_device(),
    )
    return model


def load_tokenizer(manifest: BaseModelManifest) -> PreTrainedTokenizerBase:
    """The tokenizer saved with the base model a manifest describes."""
    return AutoTokenizer.from_pretrained(checked_location(manifest), revision=manifest.revision)


def load_processor(manifest: BaseModelManifest) -> PreTrainedTokenizerBase | WhisperProcessor:
    """What turns inputs into the base's ids: Whisper's processor (tokenizer and features), else its tokenizer."""
    if manifest.architecture == "whisper":
        return WhisperProcessor.from_pretrained(
            checked_location(manifest), revision=manifest.revision
        )
    return load_tokenizer(manifest)
