"""Larger corpora made of the bundled one, and the data stages run on them in a scratch project.

Shared by the throughput and memory benchmarks: a corpus of ``times`` x the
bundled clips (every clip repeated under new names, in the Common Voice
release layout, files linked rather than copied), and a Kedro run of
``whisper_zh``'s data stages on it exactly as ``kedro run`` would do them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peft_pipelines.scratch_project import PROJECT_ROOT, copy_project, run_pipeline
from peft_pipelines.speech.corpus import read_common_voice_tsv, write_common_voice_tsv

BUNDLED_CORPUS = PROJECT_ROOT / "data" / "01_raw" / "common_voice_zh_sample"
PROCESSOR = PROJECT_ROOT / "data" / "01_raw" / "whisper_processor"
DATA_STAGES = [
    "whisper_zh.read_input_window",
    "whisper_zh.ingest_corpus",
    "whisper_zh.prune_columns",
    "whisper_zh.resample_to_16k",
    "whisper_zh.extract_features_and_labels",
    "whisper_zh.report_data_quality",
]
# Where the data stages write, in the order they run.
STAGE_FOLDERS = ("data/02_intermediate", "data/03_primary", "data/04_feature")


def read_split(corpus: Path, split: str) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of ``corpus/<split>.tsv``."""
    header, rows, _ = read_common_voice_tsv(corpus / f"{split}.tsv")
    return header, rows


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
                (clips / name).symlink_to((source / "clips" / row["path"]).resolve())
                copies.append({**row, "path": name})
        write_common_voice_tsv(out / f"{split}.tsv", copies, header=header)
    return out


def data_stage_params(
    corpus: Path, splits: tuple[str, ...], max_source_positions: int
) -> dict[str, Any]:
    """Runtime parameters pointing whisper_zh's data stages at ``corpus``, with the given input window.

    The window only decides which clips are too long (and the feature cap); the
    data stages read it from the base model's config, here a random tiny one's.
    """
    return {
        "whisper_zh": {
            "corpus": {"dir": str(corpus), "splits": list(splits)},
            "base_model": {
                "init": "random_tiny",
                "name_or_path": "data/06_models/whisper-tiny-random",
                "random_tiny": {"architecture": {"max_source_positions": max_source_positions}},
            },
        }
    }


def scratch_project(root: Path) -> Path:
    """An untracked copy of the project to run the data stages in."""
    root.mkdir(parents=True, exist_ok=True)
    return copy_project(root)


def run_data_stages(project: Path, params: dict[str, Any], nodes: list[str] = DATA_STAGES) -> None:
    run_pipeline(project, "whisper_zh", params, node_names=nodes)


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
