"""Generation engines side by side: the 8-bit PeftModel against CTranslate2 exports of the merged model.

One run, one fine-tuned model, the same prompts (``opt_quotes.generation.prompts``,
``--times`` copies, one batch), greedy, the same number of new tokens:

(a) the adapter on its 8-bit base, as the pipeline generates
    (:func:`peft_pipelines.text.causal_lm.greedy_token_ids`);
(b) the adapter merged into its float32 base (``merge_adapter``), converted by
    CTranslate2 at int8 (``convert_to_ctranslate2``), run by ``ctranslate2.Generator``
    (:func:`peft_pipelines.text.ctranslate2_lm.ctranslate2_greedy_token_ids`);
(c) the same merged model converted at float32: at int8 SmolLM2-135M's held-out
    perplexity drifts several percent from the merged model's, at float32 it does not.

For each: tokens/s and held-out perplexity (the pipeline's held-out tokens),
with its relative gap from the merged float32 transformers model's (the
reference, scored by ``perplexity``; the exports by ``score_batch``); then,
per prompt, how many of the leading ``compared_tokens`` greedy tokens of (b)
and (c) agree with (a)'s; last ``engine vs PeftModel 8-bit: N.Nx (int8), M.Mx (float32)``.

The model is the latest adapter of ``data/06_models/opt_quotes/adapter`` (or
``--adapter``); the merged model and both exports are made once into
``data/07_model_output/generation_engines/<version>``. ``--reduced``: a random
tiny OPT with a fresh adapter instead, built in a temporary folder (what the
tests run): its continuations are noise and its figures say so.

    python -m benchmarks.generation_engines [--times 1] [--adapter FOLDER --tokens FOLDER | --reduced]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import load_from_disk
from peft import PeftModel
from transformers import PreTrainedTokenizerBase

from benchmarks.eval_throughput import project_config
from peft_pipelines.io.base_model_manifest import BaseModelManifest
from peft_pipelines.io.exported_models import (
    CTranslate2Conversion,
    CTranslate2Folder,
    CTranslate2ModelDataset,
    MergedModelDataset,
    open_ctranslate2,
)
from peft_pipelines.io.model_datasets import MANIFEST_FILE, load_adapter, read_manifest
from peft_pipelines.io.model_loading import load_base_model
from peft_pipelines.pipelines.opt_quotes.nodes import prepare_tokenizer
from peft_pipelines.text import TinyRandomOPTDataset
from peft_pipelines.text.causal_lm import greedy_token_ids, perplexity
from peft_pipelines.text.ctranslate2_lm import (
    ctranslate2_greedy_token_ids,
    ctranslate2_perplexity,
    leading_tokens_agreement,
)
from peft_pipelines.training.export import ExportSettings, merge_adapter
from peft_pipelines.training.nodes import add_peft_adapter, describe_base_model
from tests.scratch_project import PROJECT_ROOT
from tests.support import QUICK_OPT_RUN, TINY_OPT_CATALOG

ADAPTERS = PROJECT_ROOT / "data" / "06_models" / "opt_quotes" / "adapter"
TOKENS = PROJECT_ROOT / "data" / "04_feature" / "opt_quotes" / "tokens"
EXPORT_CACHE = PROJECT_ROOT / "data" / "07_model_output" / "generation_engines"
QUOTES = PROJECT_ROOT / "data" / "01_raw" / "english_quotes" / "quotes.jsonl"
EXPORT_QUANTIZATIONS = ("int8", "float32")
# --reduced scores this many bundled quotes: a random model's perplexity only shows the path runs.
REDUCED_HELDOUT_QUOTES = 8


@dataclass
class EngineRun:
    """One engine's greedy continuations (ids without the prompt), their speed, its held-out perplexity."""

    name: str
    token_ids: list[list[int]]
    tokens_per_second: float
    perplexity: float


@dataclass
class FineTunedModel:
    """The 8-bit PeftModel, its base's manifest, the pipeline's tokenizer and held-out token ids."""

    adapter: PeftModel
    manifest: BaseModelManifest
    tokenizer: PreTrainedTokenizerBase
    heldout: list[list[int]]
    label: str


def latest_adapter() -> Path:
    """The newest adapter version an opt_quotes run wrote (versions sort by their timestamps)."""
    versions = sorted(ADAPTERS.glob("*/adapter"))
    if not versions:
        raise SystemExit(f"no adapter under {ADAPTERS}: run kedro run --pipelines opt_quotes first")
    return versions[-1]


def trained_model(adapter: Path, tokens: Path) -> FineTunedModel:
    """The adapter on its 8-bit base as the pipeline loads it, with the pipeline's tokenizer and held-out quotes."""
    manifest = read_manifest(adapter / MANIFEST_FILE)
    heldout = list(load_from_disk(str(tokens))["heldout"]["input_ids"])
    return FineTunedModel(
        adapter=load_adapter(adapter),
        manifest=manifest,
        tokenizer=prepare_tokenizer(manifest),
        heldout=heldout,
        label=f"{adapter} (base {manifest.name_or_path})",
    )


def reduced_model(scratch: Path) -> FineTunedModel:
    """A random tiny OPT in 8-bit with a fresh LoRA adapter, and a few bundled quotes as held-out ids."""
    entry = TINY_OPT_CATALOG["opt_quotes.pretrained_model"]
    reference = TinyRandomOPTDataset(
        path=str(scratch / "tiny-opt"),
        processor=str(PROJECT_ROOT / entry["processor"]),
        architecture=entry["architecture"],
        seed=entry["seed"],
    ).load()
    base_model = {"architecture": "causal_lm", "quantization": "int8"}
    manifest = describe_base_model(reference, base_model)
    peft = {"peft_type": "LORA", "task_type": "CAUSAL_LM", **QUICK_OPT_RUN["opt_quotes"]["peft"]}
    adapter, _ = add_peft_adapter(manifest, peft)
    tokenizer = prepare_tokenizer(manifest)
    lines = QUOTES.read_text(encoding="utf-8").splitlines()[:REDUCED_HELDOUT_QUOTES]
    quotes = [json.loads(line)["quote"] for line in lines]
    heldout = [ids[:64] for ids in tokenizer(quotes)["input_ids"]]
    label = "RANDOM-WEIGHT tiny OPT with an untrained adapter (continuations are noise)"
    return FineTunedModel(adapter, manifest, tokenizer, heldout, label)


def merged_exports(
    model: FineTunedModel, cache: Path
) -> tuple[BaseModelManifest, dict[str, CTranslate2Folder]]:
    """The merged float32 folder and its CTranslate2 exports (one per quantization), made once into ``cache``.

    Made by the export stages' own code: ``merge_adapter`` written by the merged-model
    dataset, ``convert_to_ctranslate2`` run by the CTranslate2 dataset (whole or not at all).
    """
    merged_dataset = MergedModelDataset(path=str(cache / "merged"))
    if not merged_dataset.exists():
        merged_dataset.save(merge_adapter(model.adapter, model.manifest))
    merged = merged_dataset.load()  # the merged folder as a base: unquantized, float32
    exports = {}
    for quantization in EXPORT_QUANTIZATIONS:
        export_dataset = CTranslate2ModelDataset(path=str(cache / f"ctranslate2-{quantization}"))
        if not export_dataset.exists():
            export_dataset.save(CTranslate2Conversion(Path(merged.name_or_path), quantization))
        exports[quantization] = export_dataset.load()
    return merged, exports


def merged_reference_perplexity(
    merged: BaseModelManifest, model: FineTunedModel, batch_size: int
) -> float:
    """Held-out perplexity of the merged model in float32 under transformers: what the exports should match."""
    scored = perplexity(load_base_model(merged), model.tokenizer, model.heldout, batch_size)
    return scored["perplexity"]


def peft_run(
    model: FineTunedModel, prompts: list[str], max_new_tokens: int, batch_size: int
) -> EngineRun:
    """(a): greedy tokens of the 8-bit PeftModel after an untimed warm-up, and its held-out perplexity."""
    greedy_token_ids(model.adapter, model.tokenizer, prompts[:1], 2)
    ids, speed = greedy_token_ids(model.adapter, model.tokenizer, prompts, max_new_tokens)
    scored = perplexity(model.adapter, model.tokenizer, model.heldout, batch_size)
    return EngineRun("(a) PeftModel 8-bit (transformers)", ids, speed, scored["perplexity"])


def ctranslate2_run(
    export: CTranslate2Folder,
    model: FineTunedModel,
    prompts: list[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    threads: int,
    name: str,
) -> EngineRun:
    """(b)/(c): greedy tokens of the export's ``Generator`` after an untimed warm-up, and its ``score_batch`` perplexity."""
    generator = open_ctranslate2(export, "Generator", intra_threads=threads)
    ctranslate2_greedy_token_ids(generator, model.tokenizer, prompts[:1], 2)
    ids, speed = ctranslate2_greedy_token_ids(generator, model.tokenizer, prompts, max_new_tokens)
    scored = ctranslate2_perplexity(generator, model.tokenizer, model.heldout, batch_size)
    return EngineRun(name, ids, speed, scored["perplexity"])


def report(
    runs: list[EngineRun], reference_perplexity: float, prompts: list[str], compared_tokens: int
) -> list[str]:
    """One line per engine (tokens/s, perplexity and gap), per-prompt agreement with (a), the ratios."""
    lines = [
        f"reference, merged float32 (transformers): held-out perplexity {reference_perplexity:.3f}"
    ]
    for run in runs:
        tokens = sum(map(len, run.token_ids))
        gap = (run.perplexity - reference_perplexity) / reference_perplexity
        lines.append(
            f"{run.name}: {run.tokens_per_second:.1f} tokens/s ({tokens} tokens, "
            f"{tokens / run.tokens_per_second:.1f} s), held-out perplexity {run.perplexity:.3f} "
            f"(gap {gap:+.2%})"
        )
    peft, exports = runs[0], runs[1:]
    agreements = [
        leading_tokens_agreement(peft.token_ids, run.token_ids, compared_tokens) for run in exports
    ]
    lines.append(f"leading {compared_tokens} greedy tokens identical to (a), per prompt:")
    for index, prompt in enumerate(prompts):
        counts = ", ".join(
            f"{run.name.split()[0]} {rows[index]['leading_identical']}/{len(rows[index]['peft'])}"
            for run, rows in zip(exports, agreements, strict=True)
        )
        lines.append(f"  {prompt!r}: {counts}")
    ratios = ", ".join(
        f"{run.tokens_per_second / peft.tokens_per_second:.1f}x ({q})"
        for run, q in zip(exports, EXPORT_QUANTIZATIONS, strict=True)
    )
    lines.append(f"engine vs PeftModel 8-bit: {ratios}")
    return lines


def parsed_arguments(generation: dict[str, Any]) -> argparse.Namespace:
    """The command line; the token budget defaults to ``opt_quotes.generation.max_new_tokens``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=1, help="copies of the prompts, one batch")
    parser.add_argument("--max-new-tokens", type=int, default=int(generation["max_new_tokens"]))
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="CPU threads of every engine"
    )
    parser.add_argument("--tokens", type=Path, default=TOKENS, help="the pipeline's token splits")
    models = parser.add_mutually_exclusive_group()
    models.add_argument("--adapter", type=Path, help="default: the latest opt_quotes adapter")
    models.add_argument("--reduced", action="store_true", help="a random tiny OPT (tests)")
    return parser.parse_args()


def main() -> None:
    params = project_config("parameters")["opt_quotes"]
    args = parsed_arguments(params["generation"])
    settings = ExportSettings.from_params(params["export"])
    batch_size = int(params["evaluation"]["batch_size"])
    torch.set_num_threads(args.threads)
    prompts = list(params["generation"]["prompts"])
    with tempfile.TemporaryDirectory() as scratch:
        if args.reduced:
            model, cache = reduced_model(Path(scratch)), Path(scratch) / "exports"
        else:
            adapter = args.adapter or latest_adapter()
            model, cache = trained_model(adapter, args.tokens), EXPORT_CACHE / adapter.parent.name
        merged, exports = merged_exports(model, cache)
        print(
            f"model: {model.label}; {len(prompts)} prompts x {args.times}, one batch, greedy, "
            f"{args.max_new_tokens} new tokens at most; {len(model.heldout)} held-out quotes; "
            f"threads: {args.threads} each; load average before: {os.getloadavg()[0]:.2f}"
        )
        batch = prompts * args.times
        reference = merged_reference_perplexity(merged, model, batch_size)
        runs = [peft_run(model, batch, args.max_new_tokens, batch_size)]
        for letter, quantization in zip("bc", EXPORT_QUANTIZATIONS, strict=True):
            name = f"({letter}) CTranslate2 {quantization} (Generator)"
            export = exports[quantization]
            runs.append(
                ctranslate2_run(
                    export,
                    model,
                    batch,
                    max_new_tokens=args.max_new_tokens,
                    batch_size=batch_size,
                    threads=args.threads,
                    name=name,
                )
            )
        print(f"exports: {', '.join(str(exports[q]) for q in EXPORT_QUANTIZATIONS)}")
    # Before the table: its last line is the ratio.
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")
    print("\n".join(report(runs, reference, prompts, settings.compared_tokens)))


if __name__ == "__main__":
    main()
