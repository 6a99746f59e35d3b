"""Nodes of ``opt_quotes``: quotes -> held-out split -> tokens -> LoRA on an 8-bit causal LM -> perplexity.

Loading, wrapping and fitting are the shared training core
(:mod:`peft_pipelines.training`); these nodes add what is a causal LM's own.
"""

from __future__ import annotations

import logging
from typing import Any

from datasets import Dataset, DatasetDict
from peft import PeftModel
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase

from peft_pipelines.data_quality import (
    EmptySplitError,
    mark_failures,
    record_split,
    split_off_failures,
    stage_report,
)
from peft_pipelines.errors import ConfigurationError
from peft_pipelines.io.atomic_arrow_dataset import scratch_arrow_file
from peft_pipelines.io.base_model_manifest import BaseModelManifest
from peft_pipelines.io.exported_models import CTranslate2Folder, open_ctranslate2
from peft_pipelines.io.model_loading import load_base_model, load_tokenizer
from peft_pipelines.text.causal_lm import (
    generate_texts,
    greedy_token_ids,
    perplexity,
    with_padding_token,
)
from peft_pipelines.text.ctranslate2_lm import (
    ctranslate2_greedy_token_ids,
    ctranslate2_perplexity,
    leading_tokens_agreement,
)
from peft_pipelines.text.quotes import clean_quote_rows, quote_rows
from peft_pipelines.training.comparison import (
    mixes_adapters_in_a_batch,
    on_each_side,
    side_by_side_rows,
    warn_if_random_base,
)
from peft_pipelines.training.export import ExportSettings
from peft_pipelines.training.lab import comparison, comparison_markdown
from peft_pipelines.training.nodes import base_model_fields, fit_adapter, report_provenance
from peft_pipelines.training.peft_wrapping import is_prompt_learning, peft_methods

logger = logging.getLogger(__name__)

TOKEN_COLUMNS = ["input_ids", "attention_mask"]


def ingest_quotes(quotes_source: Any) -> tuple[Dataset, dict[str, Any]]:
    """The quotes corpus as one table (row, quote, author, tags) and its ingest report.

    ``quotes_source`` is what the catalog loads: JSON Lines text (the bundled
    file) or a ``datasets`` table (the seed's ``Abirate/english_quotes``).
    Blank, malformed and duplicate quotes are dropped and reported by row number.
    """
    rows = quote_rows(quotes_source)
    kept, dropped = clean_quote_rows(rows)
    if not kept:
        raise EmptySplitError(f"No usable quotes in the corpus ({len(rows)} rows, all dropped)")
    report = stage_report("ingest")
    record_split(report, "all", rows_in=len(rows), kept=len(kept), dropped=dropped)
    logger.info("Ingested %d quotes (%d dropped)", len(kept), len(dropped))
    return Dataset.from_list(kept), report


def split_heldout(quotes: Dataset, split: dict[str, Any]) -> tuple[DatasetDict, dict[str, Any]]:
    """A seeded train / held-out split (the seed notebook had none: we want a measurable result).

    ``datasets``' own ``train_test_split(seed=)`` draws the held-out quotes
    (each side in the order drawn). Quotes are already unique (see
    ``ingest_quotes``), so no quote text is in both.
    """
    fraction = float(split["heldout_fraction"])
    if not 0 < fraction < 1:
        raise ConfigurationError(f"heldout_fraction must be between 0 and 1, not {fraction}")
    n_heldout = max(1, round(fraction * len(quotes)))
    # Drawn on row positions, in memory: nothing is written beside the catalog's copy.
    # (datasets refuses keep_in_memory=True on a dataset read from disk; the draw is the same.)
    positions = Dataset.from_dict({"position": range(len(quotes))})
    drawn = positions.train_test_split(
        test_size=n_heldout, seed=int(split["seed"]), keep_in_memory=True
    )
    splits = DatasetDict(
        {
            side: quotes.select(drawn[part]["position"], keep_in_memory=True)
            for side, part in (("train", "train"), ("heldout", "test"))
        }
    )
    report = {
        "stage": "split",
        "seed": int(split["seed"]),
        "heldout_fraction": fraction,
        "rows": {name: len(rows) for name, rows in splits.items()},
    }
    return splits, report


def prepare_tokenizer(base_model_manifest: BaseModelManifest) -> PreTrainedTokenizerBase:
    """The tokenizer saved with the base model, with a padding token (its end-of-text if it has none)."""
    return with_padding_token(load_tokenizer(base_model_manifest))


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
        # Written to scratch, not beside the catalog's copy of the splits.
        encoded = rows.map(
            encode, batched=True, cache_file_name=scratch_arrow_file(f"tokenize-{name}")
        )
        report["truncated"][name] = sum(n > max_length for n in encoded["full_length"])
        too_short = [len(ids) < 2 for ids in encoded["input_ids"]]
        marked = mark_failures(
            encoded.remove_columns("full_length"),
            ["too_few_tokens" if short else "" for short in too_short],
            [
                quote if short else ""
                for quote, short in zip(encoded["quote"], too_short, strict=True)
            ],
        )
        tokenized[name] = split_off_failures(name, marked, report, id_column="row")
    return DatasetDict(tokenized), report


def train_adapter(  # noqa: PLR0917 (Kedro passes node inputs positionally)
    peft_model: PeftModel,
    base_model_manifest: BaseModelManifest,
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
        base_model_manifest,
        tokens["train"].select_columns(TOKEN_COLUMNS),
        heldout.select_columns(TOKEN_COLUMNS),
        DataCollatorForLanguageModeling(tokenizer, mlm=False),
        training=training,
        peft=peft,
    )


def evaluate_perplexity(  # noqa: PLR0917 (Kedro passes node inputs positionally)
    adapter: PeftModel,
    base_model_manifest: BaseModelManifest,
    tokens: DatasetDict,
    tokenizer: PreTrainedTokenizerBase,
    evaluation: dict[str, Any],
    peft: dict[str, Any],
) -> dict[str, Any]:
    """Held-out perplexity of the base (the same quantized model, adapter disabled) and the fine-tuned model."""
    heldout = list(tokens["heldout"]["input_ids"])
    batch_size = int(evaluation.get("batch_size", 8))
    sides = on_each_side(adapter, lambda: perplexity(adapter, tokenizer, heldout, batch_size))
    base, finetuned = sides["base"], sides["finetuned"]
    manifest = base_model_manifest
    warn_if_random_base(manifest)
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
    adapter: PeftModel,
    base_model_manifest: BaseModelManifest,
    tokenizer: PreTrainedTokenizerBase,
    generation: dict[str, Any],
) -> dict[str, Any]:
    """Greedy continuations of fixed prompts by the base and the fine-tuned model, side by side.

    Both go in one batch, the base rows with the adapter off
    (:func:`~peft_pipelines.training.comparison.side_by_side_rows`), which
    halves the time, where the method allows it (LoRA); any other (DoRA,
    AdaLoRA, IA3, prompt learning) generates each side on its own, soft
    prompts without the decoder cache.
    """
    max_new_tokens = int(generation.get("max_new_tokens", 48))
    prompts = list(generation["prompts"])
    if mixes_adapters_in_a_batch(adapter):
        rows = side_by_side_rows(adapter, len(prompts))
        texts = generate_texts(
            adapter, tokenizer, prompts + prompts, max_new_tokens, adapter_names=rows
        )
        base, finetuned = texts[: len(prompts)], texts[len(prompts) :]
    else:
        # peft's virtual tokens and transformers' cached positions disagree in generate
        # (OPT: a tensor-size error): soft prompts generate without the cache.
        cache = not any(is_prompt_learning(method) for method in peft_methods(adapter))
        sides = on_each_side(
            adapter,
            lambda: generate_texts(adapter, tokenizer, prompts, max_new_tokens, use_cache=cache),
        )
        base, finetuned = sides["base"], sides["finetuned"]
    samples = [
        {"prompt": prompt, "base": b, "finetuned": f}
        for prompt, b, f in zip(prompts, base, finetuned, strict=True)
    ]
    return {
        "decoding": {"strategy": "greedy", "max_new_tokens": max_new_tokens},
        **base_model_fields(base_model_manifest),
        "samples": samples,
    }


def _log_export_figures(
    merged: dict[str, Any],
    exported: dict[str, Any],
    quantization: str,
    peft_speed: float,
    ct2_speed: float,
) -> None:
    logger.info(
        "Export: held-out perplexity merged %.3f, CTranslate2 %s %.3f; "
        "greedy tokens/s PeftModel 8-bit %.1f, CTranslate2 %.1f",
        merged["perplexity"],
        quantization,
        exported["perplexity"],
        peft_speed,
        ct2_speed,
    )


def check_export_parity(  # noqa: PLR0917 (Kedro passes node inputs positionally)
    adapter: PeftModel,
    merged_model: BaseModelManifest,
    ctranslate2_model: CTranslate2Folder,
    tokens: DatasetDict,
    tokenizer: PreTrainedTokenizerBase,
    evaluation: dict[str, Any],
    generation: dict[str, Any],
    export: dict[str, Any],
) -> dict[str, Any]:
    """The CTranslate2 export against the merged float model: held-out perplexity, greedy tokens, speed.

    Perplexity is scored as ``evaluate_perplexity`` scores it, on the merged
    model (unquantized) and on the export; generation compares the 8-bit
    PeftModel the pipeline evaluates with the export's greedy decoding. The
    export passes when its perplexity is within ``max_perplexity_gap`` of the
    merged model's; ``require_export_parity`` stops the run after this report
    is written if it does not.
    """
    settings = ExportSettings.from_params(export)
    heldout = list(tokens["heldout"]["input_ids"])
    batch_size = int(evaluation.get("batch_size", 8))
    generator = open_ctranslate2(ctranslate2_model, "Generator")
    merged = perplexity(load_base_model(merged_model), tokenizer, heldout, batch_size)
    exported = ctranslate2_perplexity(generator, tokenizer, heldout, batch_size)
    gap = abs(exported["perplexity"] - merged["perplexity"]) / merged["perplexity"]
    prompts, max_new_tokens = list(generation["prompts"]), int(generation.get("max_new_tokens", 48))
    peft_ids, peft_speed = greedy_token_ids(adapter, tokenizer, prompts, max_new_tokens)
    ct2_ids, ct2_speed = ctranslate2_greedy_token_ids(generator, tokenizer, prompts, max_new_tokens)
    passed = gap <= settings.max_perplexity_gap
    _log_export_figures(merged, exported, ctranslate2_model.quantization, peft_speed, ct2_speed)
    failures = (
        []
        if passed
        else [
            f"the CTranslate2 export at {ctranslate2_model} has held-out perplexity "
            f"{exported['perplexity']:.3f}, {100 * gap:.2f}% from the merged model's "
            f"{merged['perplexity']:.3f} (export.max_perplexity_gap: {100 * settings.max_perplexity_gap:g}%)"
        ]
    )
    return {
        "passed": passed,
        "failures": failures,
        "quantization": ctranslate2_model.quantization,
        "perplexity": {"merged": merged, "ctranslate2": exported, "relative_gap": gap},
        "max_perplexity_gap": settings.max_perplexity_gap,
        "generation": {
            "max_new_tokens": max_new_tokens,
            "tokens_per_second": {"peft_8bit": peft_speed, "ctranslate2": ct2_speed},
            "prompts": prompts,
            "compared_tokens": settings.compared_tokens,
            "per_prompt": leading_tokens_agreement(peft_ids, ct2_ids, settings.compared_tokens),
        },
        **base_model_fields(merged_model),
    }


def lab_figures(metrics: dict[str, Any], side: str) -> dict[str, float | None]:
    """One side's figure a lab compares: the held-out perplexity."""
    return {"perplexity": metrics[side]["perplexity"]}


def compare_variants(*reports: Any, variants: list[str]) -> tuple[dict[str, Any], str]:
    """The lab's comparison of its variants (``comparison.json``) and the same as a Markdown table.

    ``reports``: per variant, its ``peft``, ``training``, ``peft_summary``,
    ``training_log`` and ``metrics`` (see :func:`peft_pipelines.training.lab.comparison`).
    """
    table = comparison("opt_quotes", list(variants), list(reports), lab_figures)
    return table, comparison_markdown(table)
