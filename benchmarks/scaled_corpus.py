"""Larger corpora made of the bundled one, and the data stages run on them in a scratch project.

Shared by the throughput and memory benchmarks: a corpus of ``times`` x the
bundled clips (every clip repeated under new names, in the Common Voice
release layout, files hard-linked rather than copied where the file system
allows), and a Kedro run of
``whisper_zh``'s data stages on it exactly as ``kedro run`` would do them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from peft_pipelines.io.common_voice import read_common_voice_tsv, write_common_voice_tsv
from peft_pipelines.io.model_loading import WHISPER_POSITIONS_PER_SECOND
from tests.scratch_project import PROJECT_ROOT, copy_project, run_pipeline

BUNDLED_CORPUS = PROJECT_ROOT / "data" / "01_raw" / "common_voice_zh_sample"
PROCESSOR = PROJECT_ROOT / "data" / "01_raw" / "whisper_processor"
DATA_STAGES = [
    "whisper_zh.read_input_window",
    "whisper_zh.ingest_corpus",
    "whisper_zh.prune_columns",
    "whisper_zh.audio_features.resample_to_16k",
    "whisper_zh.audio_features.extract_features_and_labels",
    "whisper_zh.report_data_quality",
]
# Where the data stages write, in the order they run.
STAGE_FOLDERS = ("data/02_intermediate", "data/03_primary", "data/04_feature")


def read_split(corpus: Path, split: str) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of ``corpus/<split>.tsv``."""
    header, rows, _ = read_common_voice_tsv(corpus / f"{split}.tsv")
    return header, rows


def link_or_copy(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source``, or a copy of it across file systems.

    Not a symbolic link: the corpus reader refuses a clip that resolves outside
    the corpus's ``clips/`` folder (``path_outside_corpus``).
    """
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def repeat_corpus(
    out: Path, times: int, splits: tuple[str, ...], source: Path = BUNDLED_CORPUS
) -> Path:
    """``times`` copies of each split's rows of ``source``, each copy's clips linked under new names."""
    clips = out / "clips"
    clips.mkdir(parents=True)
    for split in splits:
        header, rows = read_split(source, split)
        copies = []
        for copy in range(times):
            for row in rows:
                name = f"x{copy:03d}_{row['path']}"
                link_or_copy((source / "clips" / row["path"]).resolve(), clips / name)
                copies.append({**row, "path": name})
        write_common_voice_tsv(out / f"{split}.tsv", copies, header=header)
    return out


def corpus_catalog(corpus: Path, splits: tuple[str, ...]) -> dict[str, Any]:
    """The conf/local/catalog.yml entry that points ``whisper_zh.corpus_source`` at ``splits`` of ``corpus``."""
    return {
        "whisper_zh.corpus_source": {
            "type": "peft_pipelines.io.CommonVoiceReleaseDataset",
            "path": str(corpus),
            "splits": list(splits),
        }
    }


def data_stage_params(max_source_positions: int) -> dict[str, Any]:
    """Runtime parameters giving whisper_zh's data stages the input window of ``max_source_positions``.

    The window only decides which clips are too long (and the feature cap); the
    data stages read it from ``whisper_zh.base_model.window_seconds``.
    """
    seconds = max_source_positions / WHISPER_POSITIONS_PER_SECOND
    return {"whisper_zh": {"base_model": {"window_seconds": seconds}}}


def scratch_project(root: Path, corpus: Path, splits: tuple[str, ...]) -> Path:
    """An untracked copy of the project whose ``whisper_zh.corpus_source`` is ``splits`` of ``corpus``."""
    root.mkdir(parents=True, exist_ok=True)
    return copy_project(root, catalog=corpus_catalog(corpus, splits))


def run_data_stages(project: Path, params: dict[str, Any], nodes: list[str] = DATA_STAGES) -> None:
    run_pipeline(project, "whisper_zh", params, node_names=nodes)


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
