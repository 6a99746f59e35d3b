"""Nodes of ``opt_quotes``: quotes -> held-out split -> tokens -> LoRA on an 8-bit causal LM -> perplexity.

Loading, wrapping and fitting are the shared training core
(:mod:`peft_pipelines.training`); these nodes add what is a causal LM's own.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict, load_dataset
from peft import PeftModel
from transformers import AutoTokenizer, DataCollatorForLanguageModeling, PreTrainedTokenizerBase

from peft_pipelines.data_quality import record_split, stage_report
from peft_pipelines.io.packaged_files import find_packaged_file
from peft_pipelines.text.causal_lm import (
    build_tiny_opt,
    convert_gguf_model,
    generate_texts,
    perplexity,
    with_padding_token,
)
from peft_pipelines.text.quotes import QUOTE_COLUMNS, clean_quote_rows, read_jsonl_rows
from peft_pipelines.training.nodes import base_model_manifest, fit_adapter, report_provenance

logger = logging.getLogger(__name__)

RANDOM_BASE_NOTE = (
    "The base model has random weights (a tiny OPT for tests): these perplexities prove the "
    "mechanics of 8-bit loading, LoRA, training and evaluation, not language modelling."
)
TOKEN_COLUMNS = ["input_ids", "attention_mask"]


def ingest_quotes(corpus: dict[str, Any]) -> tuple[Dataset, dict[str, Any]]:
    """The quotes corpus as one table (row, quote, author, tags) and its ingest report.

    ``corpus["source"]`` is ``jsonl`` (the bundled file at ``corpus["path"]``)
    or ``hf_datasets`` (``corpus["hf_datasets"]``: ``path`` such as
    ``Abirate/english_quotes``, ``split``, ``revision``, as the seed notebook
    read it). Blank, malformed and duplicate quotes are dropped and reported.
    """
    source = corpus["source"]
    if source == "jsonl":
        rows = read_jsonl_rows(corpus["path"])
        origin = str(corpus["path"])
    elif source == "hf_datasets":
        hub = corpus["hf_datasets"]
        table = load_dataset(
            hub["path"], split=hub.get("split", "train"), revision=hub.get("revision")
        )
        missing = sorted(set(QUOTE_COLUMNS) - set(table.column_names))
        if missing:
            raise ValueError(
                f"{hub['path']} has no column(s) {missing}; it has {table.column_names}"
            )
        rows = table.select_columns(list(QUOTE_COLUMNS)).to_list()
        origin = hub["path"]
    else:
        raise ValueError(f"opt_quotes.corpus.source must be jsonl or hf_datasets, not {source!r}")
    kept, dropped = clean_quote_rows(rows)
    if not kept:
        raise ValueError(f"No usable quotes in {origin} ({len(rows)} rows, all dropped)")
    report = stage_report("ingest")
    report["source"] = origin
    record_split(report, "all", rows_in=len(rows), kept=len(kept), dropped=dropped)
    logger.info("Ingested %d quotes from %s (%d dropped)", len(kept), origin, len(dropped))
    return Dataset.from_list(kept), report


def split_heldout(quotes: Dataset, split: dict[str, Any]) -> tuple[DatasetDict, dict[str, Any]]:
    """A seeded train / held-out split (the seed notebook had none: we want a measurable result).

    Quotes are already unique (see ``ingest_quotes``), so no quote text is in both.
    """
    fraction = float(split["heldout_fraction"])
    if not 0 < fraction < 1:
        raise ValueError(f"heldout_fraction must be between 0 and 1, not {fraction}")
    order = list(range(len(quotes)))
    random.Random(int(split["seed"])).shuffle(order)
    n_heldout = max(1, round(fraction * len(order)))
    splits = DatasetDict(
        {
            "train": quotes.select(sorted(order[n_heldout:])),
            "heldout": quotes.select(sorted(order[:n_heldout])),
        }
    )
    report = {
        "stage": "split",
        "seed": int(split["seed"]),
        "heldout_fraction": fraction,
        "rows": {name: len(rows) for name, rows in splits.items()},
    }
    return splits, report


def describe_base_model(
    base_model: dict[str, Any],
) -> tuple[dict[str, Any], PreTrainedTokenizerBase]:
    """The base model's manifest (see :class:`peft_pipelines.io.BaseModelDataset`) and its tokenizer.

    ``base_model["init"]``:

    * ``gguf``: the GGUF file ``base_model["gguf"]["file"]`` inside the installed
      package ``base_model["gguf"]["package"]`` is converted into
      ``name_or_path`` once, and reused while the file is unchanged;
    * ``pretrained``: ``name_or_path`` is a Hub id (``facebook/opt-6.7b``) or a folder;
    * ``random_tiny``: a tiny random OPT is built into ``name_or_path`` from
      ``base_model["random_tiny"]`` (architecture, seed, tokenizer folder): for tests.
    """
    init = base_model.get("init", "pretrained")
    if init == "gguf":
        gguf = base_model["gguf"]
        convert_gguf_model(
            find_packaged_file(gguf["package"], gguf["file"]),
            Path(base_model["name_or_path"]),
            gguf.get("save_dtype", "float16"),
        )
    elif init == "random_tiny":
        tiny = base_model["random_tiny"]
        build_tiny_opt(
            tiny["tokenizer"],
            dict(tiny["architecture"]),
            int(tiny["seed"]),
            base_model["name_or_path"],
        )
    elif init != "pretrained":
        raise ValueError(f"base_model.init must be gguf, pretrained or random_tiny, not {init!r}")
    manifest = base_model_manifest(
        base_model, "causal_lm", random_weights=init == "random_tiny", random_note=RANDOM_BASE_NOTE
    )
    tokenizer = AutoTokenizer.from_pretrained(
        manifest["name_or_path"], revision=manifest.get("revision")
    )
    return manifest, with_padding_token(tokenizer)


def tokenize_quotes(
    splits: DatasetDict, tokenizer: PreTrainedTokenizerBase, tokenize: dict[str, Any]
) -> tuple[DatasetDict, dict[str, Any]]:
    """Token ids of the ``quote`` column (only the quote, as the seed), truncated to ``max_length``.

    Truncated quotes are kept and counted in the report; a quote that
    tokenizes to fewer than two tokens has nothing to predict and is dropped.
    """
    max_length = int(tokenize["max_length"])
    report = stage_report("tokenize")
    report["truncated"] = {}
    tokenized = {}

    def encode(batch: dict[str, list]) -> dict[str, list]:
        # One tokenizer pass: cut to max_length here (the start of each quote, its
        # leading special token included) and keep the full length to count cuts.
        full = tokenizer(batch["quote"])
        return {
            "input_ids": [ids[:max_length] for ids in full["input_ids"]],
            "attention_mask": [mask[:max_length] for mask in full["attention_mask"]],
            "full_length": [len(ids) for ids in full["input_ids"]],
        }

    for name, rows in splits.items():
        encoded = rows.map(encode, batched=True)
        report["truncated"][name] = sum(n > max_length for n in encoded["full_length"])
        encoded = encoded.remove_columns("full_length")
        too_short = [i for i, ids in enumerate(list(encoded["input_ids"])) if len(ids) < 2]
        dropped = [
            {"row": encoded[i]["row"], "reason": "too_few_tokens", "detail": encoded[i]["quote"]}
            for i in too_short
        ]
        if too_short:
            short = set(too_short)
            encoded = encoded.select([i for i in range(len(encoded)) if i not in short])
        record_split(report, name, rows_in=len(rows), kept=len(encoded), dropped=dropped)
        tokenized[name] = encoded
    return DatasetDict(tokenized), report


def train_adapter(  # noqa: PLR0917 (Kedro passes node inputs positionally)
    peft_model: PeftModel,
    tokens: DatasetDict,
    tokenizer: PreTrainedTokenizerBase,
    evaluation: dict[str, Any],
    training: dict[str, Any],
    peft: dict[str, Any],
) -> tuple[PeftModel, dict[str, Any]]:
    """Fit the adapter on the training quotes with ``Trainer`` and ``DataCollatorForLanguageModeling(mlm=False)``.

    The first ``evaluation["curve_quotes"]`` held-out quotes (all if null) give
    the evaluation loss curve: a few dozen show its trend at a fraction of the
    cost, and the final perplexity uses every held-out quote. The model is not
    selected on them (no best-checkpoint loading), so that perplexity stays unbiased.
    """
    heldout = tokens["heldout"]
    if evaluation.get("curve_quotes"):
        heldout = heldout.select(range(min(int(evaluation["curve_quotes"]), len(heldout))))
    return fit_adapter(
        peft_model,
        tokens["train"].select_columns(TOKEN_COLUMNS),
        heldout.select_columns(TOKEN_COLUMNS),
        DataCollatorForLanguageModeling(tokenizer, mlm=False),
        training=training,
        peft=peft,
    )


def evaluate_perplexity(
    adapter: PeftModel,
    tokens: DatasetDict,
    tokenizer: PreTrainedTokenizerBase,
    evaluation: dict[str, Any],
    peft: dict[str, Any],
) -> dict[str, Any]:
    """Held-out perplexity of the base (the same quantized model, adapter disabled) and the fine-tuned model."""
    heldout = list(tokens["heldout"]["input_ids"])
    batch_size = int(evaluation.get("batch_size", 8))
    with adapter.disable_adapter():
        base = perplexity(adapter, tokenizer, heldout, batch_size)
    finetuned = perplexity(adapter, tokenizer, heldout, batch_size)
    manifest = adapter.peft_pipelines_manifest
    if manifest["base_model_random"]:
        logger.warning(RANDOM_BASE_NOTE)
    logger.info(
        "Held-out perplexity base %.2f -> fine-tuned %.2f (%d quotes, %d tokens)",
        base["perplexity"],
        finetuned["perplexity"],
        base["n"],
        base["tokens"],
    )
    return {
        "base": base,
        "finetuned": finetuned,
        **report_provenance(manifest, peft, "heldout", evaluation.get("seed")),
    }


def generate_samples(
    adapter: PeftModel, tokenizer: PreTrainedTokenizerBase, generation: dict[str, Any]
) -> dict[str, Any]:
    """Greedy continuations of fixed prompts by the base and the fine-tuned model, side by side.

    Both go in one batch, the base rows with the adapter off (PEFT's
    ``adapter_names``, ``__base__``): on a CPU each decoding step of an 8-bit
    model costs about the same for one row as for several, so this halves the time.
    """
    max_new_tokens = int(generation.get("max_new_tokens", 48))
    prompts = list(generation["prompts"])
    rows = ["__base__"] * len(prompts) + [adapter.active_adapter] * len(prompts)
    texts = generate_texts(
        adapter, tokenizer, prompts + prompts, max_new_tokens, adapter_names=rows
    )
    base, finetuned = texts[: len(prompts)], texts[len(prompts) :]
    samples = [
        {"prompt": prompt, "base": b, "finetuned": f}
        for prompt, b, f in zip(prompts, base, finetuned, strict=True)
    ]
    manifest = adapter.peft_pipelines_manifest
    return {
        "decoding": {"strategy": "greedy", "max_new_tokens": max_new_tokens},
        "base_model": manifest["name_or_path"],
        "base_model_random": manifest["base_model_random"],
        "note": manifest.get("note"),
        "samples": samples,
    }
