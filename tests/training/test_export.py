"""The export stages on tiny random models: merge, CTranslate2 conversion, and the checks of bad exports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from kedro.io import Version

from peft_pipelines.errors import UserError
from peft_pipelines.io.base_model_manifest import BaseModelManifest
from peft_pipelines.io.exported_models import (
    EXPORT_RECORD,
    CTranslate2Assembly,
    CTranslate2Conversion,
    CTranslate2ModelDataset,
    ExportError,
    ExportVerdict,
    MergedModelDataset,
    open_ctranslate2,
    write_export_record,
)
from peft_pipelines.io.model_loading import load_base_model, load_tokenizer
from peft_pipelines.text.causal_lm import (
    build_tiny_opt,
    greedy_token_ids,
    perplexity,
    with_padding_token,
)
from peft_pipelines.text.ctranslate2_lm import ctranslate2_greedy_token_ids, ctranslate2_perplexity
from peft_pipelines.training.export import (
    ExportParityError,
    export_base_ctranslate2,
    record_export_verdict,
    require_export_parity,
)
from tests.support import EXPORT_VERSION, TINY_OPT_CATALOG, export_lookalike_adapter

OPT_ARCHITECTURE = TINY_OPT_CATALOG["opt_quotes.pretrained_model"]["architecture"]
GPT2_TOKENIZER = "data/01_raw/gpt2_tokenizer"
VERSION = Version(None, EXPORT_VERSION)
PROMPTS = ["Two things are infinite: ", "Life is "]


@pytest.fixture(scope="module")
def tiny_opt(tmp_path_factory) -> BaseModelManifest:
    folder = build_tiny_opt(GPT2_TOKENIZER, OPT_ARCHITECTURE, 0, tmp_path_factory.mktemp("opt"))
    return BaseModelManifest(name_or_path=str(folder), architecture="causal_lm")


@pytest.fixture(scope="module")
def opt_float32_export(tmp_path_factory, tiny_opt):
    return export_lookalike_adapter(
        tmp_path_factory.mktemp("float32"), tiny_opt, "float32", task_type="CAUSAL_LM"
    )


def test_the_merged_opt_exports_with_identical_greedy_ids_and_perplexity(
    tiny_opt, opt_float32_export
):
    adapter, merged, export = opt_float32_export
    assert export.path.parts[-3:] == ("ctranslate2", VERSION.save, "ctranslate2")
    assert Path(merged.name_or_path).parts[-3:] == ("merged", VERSION.save, "merged")
    assert merged.quantization == "none"
    tokenizer = with_padding_token(load_tokenizer(tiny_opt))
    merged_model = load_base_model(merged)
    assert merged_model.dtype == torch.float32
    base_model = load_base_model(
        BaseModelManifest(tiny_opt.name_or_path, "causal_lm", quantization="none")
    )
    ids = torch.tensor([[464, 995, 318, 257, 1332]])
    with torch.no_grad():
        assert not torch.allclose(merged_model(ids).logits, base_model(ids).logits, atol=1e-4)

    generator = open_ctranslate2(export, "Generator")
    ours, _ = greedy_token_ids(merged_model, tokenizer, PROMPTS, 12)
    theirs, speed = ctranslate2_greedy_token_ids(generator, tokenizer, PROMPTS, 12)
    assert ours == theirs and all(len(row) == 12 for row in theirs) and speed > 0
    quotes = [tokenizer(text)["input_ids"] for text in ("Life is short.", "Art is long, they say")]
    expected = perplexity(merged_model, tokenizer, quotes)
    scored = ctranslate2_perplexity(generator, tokenizer, quotes)
    assert scored["tokens"] == expected["tokens"] == sum(len(q) - 1 for q in quotes)
    assert scored["perplexity"] == pytest.approx(expected["perplexity"], rel=1e-4)


def test_an_int8_export_loads_and_generates(tmp_path, tiny_opt):
    _, _, export = export_lookalike_adapter(tmp_path, tiny_opt, "int8", task_type="CAUSAL_LM")
    assert export.quantization == "int8"
    tokenizer = with_padding_token(load_tokenizer(tiny_opt))
    ids, _ = ctranslate2_greedy_token_ids(
        open_ctranslate2(export, "Generator"), tokenizer, PROMPTS, 8
    )
    assert [len(row) for row in ids] == [8, 8]


def test_the_merged_whisper_exports_with_identical_greedy_ids(
    tmp_path, tiny_whisper_manifest, bundled_features
):
    import ctranslate2  # noqa: PLC0415
    import faster_whisper  # noqa: PLC0415
    from transformers import WhisperProcessor  # noqa: PLC0415

    manifest = tiny_whisper_manifest
    _, merged, export = export_lookalike_adapter(tmp_path, manifest, "float32")
    for name in ("tokenizer.json", "preprocessor_config.json", "generation_config.json"):
        assert (Path(merged.name_or_path) / name).is_file()
    base_generation = json.loads(
        (Path(manifest.name_or_path) / "generation_config.json").read_text()
    )
    merged_generation = json.loads(
        (Path(merged.name_or_path) / "generation_config.json").read_text()
    )
    assert merged_generation["lang_to_id"] == base_generation["lang_to_id"]
    assert {"tokenizer.json", "preprocessor_config.json"} <= {p.name for p in export.path.iterdir()}

    model = load_base_model(merged)
    window = model.config.max_source_positions * 2  # mel frames
    tokenizer = WhisperProcessor.from_pretrained(merged.name_or_path).tokenizer
    prompt = tokenizer.convert_tokens_to_ids(
        ["<|startoftranscript|>", "<|zh|>", "<|transcribe|>", "<|notimestamps|>"]
    )
    engine = open_ctranslate2(export, "models.Whisper")
    for row in bundled_features["test"].select(range(2)):
        mel = np.asarray(row["log_mel"], dtype=np.float32).T[:, :window]
        mel = np.pad(mel, ((0, 0), (0, window - mel.shape[1])), constant_values=mel.min())[None]
        with torch.no_grad():
            ours = model.generate(
                torch.from_numpy(mel), decoder_input_ids=torch.tensor([prompt]), max_new_tokens=8
            )[0].tolist()
        ours = ours[len(prompt) :] if ours[: len(prompt)] == prompt else ours
        features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel))
        theirs = engine.generate(features, [prompt], beam_size=1, max_length=8 + len(prompt))
        ids = theirs[0].sequences_ids[0]
        assert len(ids) >= 4 and ids == ours[: len(ids)]
    assert faster_whisper.WhisperModel(str(export.path), device="cpu", compute_type="int8")


def test_the_base_is_converted_unless_packages_ship_it_as_ctranslate2(tmp_path, tiny_opt):
    converted = export_base_ctranslate2(
        {"name_or_path": tiny_opt.name_or_path}, tiny_opt, {"quantization": "int8"}
    )
    assert converted == CTranslate2Conversion(Path(tiny_opt.name_or_path), "int8")
    parts = [tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"]
    for index, part in enumerate(parts):
        part.write_bytes(bytes([index]) * 3)
    shipped = {"model_parts": [str(p) for p in parts], "files": {}, "texts": {"x.json": "{}"}}
    assembly = export_base_ctranslate2({"ctranslate2_files": shipped}, tiny_opt, {})
    assert isinstance(assembly, CTranslate2Assembly) and assembly.model_parts == tuple(parts)


def _good_unversioned_export(root: Path, source: Path) -> CTranslate2ModelDataset:
    dataset = CTranslate2ModelDataset(path=str(root / "base_ctranslate2"))
    dataset.save(CTranslate2Conversion(source, "float32"))
    return dataset


def test_a_converter_failure_is_one_line_and_keeps_the_previous_export(tmp_path, tiny_opt):
    dataset = _good_unversioned_export(tmp_path, Path(tiny_opt.name_or_path))
    before = dataset.load()
    # 50,257 rows: CTranslate2's OPT converter wants a multiple of 8.
    from transformers import AutoTokenizer, OPTConfig, OPTForCausalLM  # noqa: PLC0415

    unpadded = tmp_path / "unpadded"
    OPTForCausalLM(OPTConfig(vocab_size=50257, **OPT_ARCHITECTURE)).save_pretrained(unpadded)
    AutoTokenizer.from_pretrained(GPT2_TOKENIZER).save_pretrained(unpadded)
    with pytest.raises(ExportError, match=rf"CTranslate2 cannot convert {unpadded} .*Vocabulary"):
        dataset.save(CTranslate2Conversion(unpadded, "float32"))
    assert dataset.load() == before and not list(tmp_path.glob(".base_ctranslate2.partial-*"))


def test_a_missing_base_is_one_line(tmp_path):
    dataset = CTranslate2ModelDataset(path=str(tmp_path / "out"))
    with pytest.raises(ExportError, match=f"cannot export {tmp_path / 'gone'}"):
        dataset.save(CTranslate2Conversion(tmp_path / "gone", "int8"))
    assert not (tmp_path / "out").exists()


def test_a_truncated_model_bin_is_named_on_load(tmp_path, opt_float32_export):
    export = tmp_path / "export"
    shutil.copytree(opt_float32_export[2].path, export)
    model_file = export / "model.bin"
    model_file.write_bytes(model_file.read_bytes()[:1000])
    dataset = CTranslate2ModelDataset(path=str(export))
    with pytest.raises(ExportError, match=f"{model_file} is 1000 bytes.*truncated"):
        dataset.load()
    # A record rewritten to match the cut file: CTranslate2's own error, said in one line.
    record = json.loads((export / EXPORT_RECORD).read_text())
    record["files"]["model.bin"] = 1000
    (export / EXPORT_RECORD).write_text(json.dumps(record))
    with pytest.raises(ExportError, match=f"CTranslate2 cannot load the export at {export}"):
        open_ctranslate2(dataset.load(), "Generator")


def test_a_vocabulary_that_is_not_the_tokenizers_is_refused(tmp_path, opt_float32_export):
    export = tmp_path / "export"
    shutil.copytree(opt_float32_export[2].path, export)
    vocabulary = json.loads((export / "vocabulary.json").read_text())
    vocabulary[10], vocabulary[11] = vocabulary[11], vocabulary[10]
    (export / "vocabulary.json").write_text(json.dumps(vocabulary))
    # As a converter given another tokenizer would write it (its record agrees with its files).
    write_export_record(export, "float32")
    with pytest.raises(ExportError, match="2 token ids of tokenizer.json name other tokens"):
        CTranslate2ModelDataset(path=str(export)).load()
    (export / "vocabulary.json").write_text(json.dumps(vocabulary[:100]))
    write_export_record(export, "float32")
    with pytest.raises(ExportError, match="vocabulary of 100 tokens, its tokenizer 50257"):
        CTranslate2ModelDataset(path=str(export)).load()


def test_a_missing_merged_model_is_one_line(tmp_path):
    (tmp_path / "merged" / VERSION.save / "merged").mkdir(parents=True)
    with pytest.raises(ExportError, match="no merged model at"):
        MergedModelDataset(path=str(tmp_path / "merged"), version=VERSION).load()


def test_a_failed_parity_report_stops_the_run_with_its_reason():
    require_export_parity(record_export_verdict({"passed": True, "failures": []}))
    verdict = record_export_verdict({"passed": False, "failures": ["perplexity 3 % off"]})
    assert verdict == {"passed": False, "enforced": True, "failures": ["perplexity 3 % off"]}
    with pytest.raises(ExportParityError, match="^perplexity 3 % off$") as raised:
        require_export_parity(verdict)
    assert isinstance(raised.value, UserError)


def test_a_random_weight_bases_failed_parity_is_reported_not_enforced(caplog):
    report = {"passed": False, "failures": ["CER 1.5 off"], "base_model_random": True}
    verdict = record_export_verdict(report)
    assert verdict["enforced"] is False and ExportVerdict.from_dict(verdict).servable
    with caplog.at_level("WARNING"):
        require_export_parity(verdict)
    assert "not enforced" in caplog.text and "CER 1.5 off" in caplog.text
    with pytest.raises(ExportParityError):
        require_export_parity(record_export_verdict({**report, "base_model_random": False}))
