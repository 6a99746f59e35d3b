"""Peak memory of whisper_zh's data stages as the corpus grows: 1x and 30x the bundled corpus.

Each scale runs the data stages (ingest -> prune -> resample -> features, all
splits, catalog saves included) with Kedro in a fresh child process. The
parent samples the child's whole process tree (the ``num_proc`` workers of
``datasets.map`` included) every 20 ms and sums their ``RssAnon``: anonymous
memory, so pages of memory-mapped Arrow files and of loaded libraries do not
count. The figure reported is the peak minus the same sum taken once the child
has imported everything. Flat memory means the 30x/1x ratio stays near 1
(target: under 1.5); disk use is printed too, and should grow linearly.

    python -m benchmarks.data_stages_memory [--scales 1 30]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.scaled_corpus import (
    STAGE_FOLDERS,
    data_stage_params,
    folder_bytes,
    read_split,
    repeat_corpus,
    scratch_project,
)

SPLITS = ("train", "dev", "test")
DEMO_WINDOW_POSITIONS = 250  # the default configuration's 5 s window
SAMPLE_SECONDS = 0.02


def rss_anon_bytes(process: psutil.Process) -> int:
    """``RssAnon`` of one process (0 if it has gone)."""
    try:
        with open(f"/proc/{process.pid}/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def tree_rss_anon_bytes(root: psutil.Process) -> int:
    """``RssAnon`` summed over ``root`` and every process under it."""
    try:
        members = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    return sum(rss_anon_bytes(p) for p in members)


def child(project: Path) -> None:
    """Import everything the data stages use, say so, wait for the go, run them."""
    import kedro.framework.session  # noqa: F401, PLC0415

    import peft_pipelines.io.common_voice  # noqa: PLC0415
    import peft_pipelines.pipelines.whisper_zh.nodes  # noqa: PLC0415
    import peft_pipelines.speech.nodes  # noqa: F401, PLC0415
    from benchmarks.scaled_corpus import run_data_stages  # noqa: PLC0415

    print("imported", flush=True)
    sys.stdin.readline()
    run_data_stages(project, data_stage_params(DEMO_WINDOW_POSITIONS))


def measure(times: int, scratch: Path) -> dict[str, float]:
    corpus = repeat_corpus(scratch / f"corpus_{times}x", times, SPLITS)
    project = scratch_project(scratch / f"project_{times}x", corpus, SPLITS)
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.data_stages_memory", "--child", str(project)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    root = psutil.Process(process.pid)
    for line in process.stdout:  # anything an import prints comes first
        if line.strip() == "imported":
            break
    else:
        raise RuntimeError(
            f"the child for {times}x exited before importing (exit {process.wait()})"
        )
    after_imports = tree_rss_anon_bytes(root)
    started = time.perf_counter()
    process.stdin.write("go\n")
    process.stdin.flush()
    peak = after_imports
    while process.poll() is None:
        peak = max(peak, tree_rss_anon_bytes(root))
        time.sleep(SAMPLE_SECONDS)
    if process.returncode != 0:
        raise RuntimeError(f"data stages at {times}x failed (exit {process.returncode})")
    clips = sum(len(read_split(corpus, split)[1]) for split in SPLITS)
    return {
        "clips": clips,
        "seconds": time.perf_counter() - started,
        "after_imports": after_imports,
        "peak": peak,
        "growth": peak - after_imports,
        "disk": sum(folder_bytes(project / folder) for folder in STAGE_FOLDERS),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs=2, default=[1, 30])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    mib = 1024 * 1024
    with tempfile.TemporaryDirectory() as scratch:
        results = {times: measure(times, Path(scratch)) for times in args.scales}
    for times, r in results.items():
        print(
            f"{times:>3}x: {r['clips']:>5} clips in {r['seconds']:.0f} s; RssAnon after imports "
            f"{r['after_imports'] / mib:.0f} MiB, peak {r['peak'] / mib:.0f} MiB, growth "
            f"{r['growth'] / mib:.0f} MiB; disk {r['disk'] / mib:.1f} MiB"
        )
    small, large = (results[t] for t in args.scales)
    print(
        f"peak growth {args.scales[1]}x/{args.scales[0]}x: {large['growth'] / small['growth']:.2f} "
        f"(target < 1.5); disk {large['disk'] / small['disk']:.1f}x for "
        f"{large['clips'] / small['clips']:.0f}x the clips"
    )


if __name__ == "__main__":
    main()
