"""Peak memory of ``whisper-zh-transcribe`` as the file grows: a minute of speech, then faint noise.

Each length is transcribed by the command in a fresh child process; the
parent samples its resident memory every 20 ms. Bounded memory means the
peak of the longest file stays near that of the shortest (target: ratio under
1.2), and the noise is skipped by the voice activity detector, not decoded.

    python -m benchmarks.transcribe_memory --adapter data/06_models/whisper_zh/adapter/<ts>/adapter \
        [--minutes 5 60]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import soundfile

from peft_pipelines.io.common_voice import read_common_voice_tsv
from peft_pipelines.speech.audio import decode_to_mono

CORPUS = Path("data/01_raw/common_voice_zh_sample")
RATE = 16000
SAMPLE_SECONDS = 0.02


def write_test_file(path: Path, minutes: float) -> None:
    """One minute of bundled test-split speech, then faint noise (-70 dBFS) to ``minutes``, as 16-bit wav."""
    _, rows, _ = read_common_voice_tsv(CORPUS / "test.tsv")
    speech = np.concatenate(
        [decode_to_mono((CORPUS / "clips" / row["path"]).read_bytes(), RATE) for row in rows]
    )
    speech = np.resize(speech, 60 * RATE)
    noise_seconds = max(0, int(minutes * 60) - 60)
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(path, "w", RATE, 1, subtype="PCM_16") as out:
        out.write(speech)
        for _ in range(noise_seconds // 60):  # written a minute at a time
            out.write((rng.standard_normal(60 * RATE) * 10 ** (-70 / 20)).astype(np.float32))


def peak_rss(command: list[str]) -> tuple[int, float, str, str]:
    """Run ``command``; its peak resident memory, wall time, stdout and stderr."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        process = psutil.Process(child.pid)
        peak = 0
        while child.poll() is None:
            try:
                peak = max(peak, process.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(SAMPLE_SECONDS)
        out.seek(0)
        err.seek(0)
        return peak, time.monotonic() - started, out.read(), err.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 60])
    args = parser.parse_args()
    peaks = {}
    with tempfile.TemporaryDirectory() as scratch:
        for minutes in args.minutes:
            audio = Path(scratch) / f"{minutes:g}min.wav"
            write_test_file(audio, minutes)
            command = [
                sys.executable,
                "-c",
                "import sys; from peft_pipelines.cli import transcribe_main; "
                "sys.exit(transcribe_main(sys.argv[1:]))",
                str(audio),
                "--adapter",
                args.adapter,
            ]
            peak, seconds, out, err = peak_rss(command)
            peaks[minutes] = peak
            skipped = [line for line in err.splitlines() if line.startswith("skipped")]
            print(
                f"{minutes:g} min: peak RSS {peak / 2**20:.0f} MiB, {seconds:.0f} s; "
                f"{skipped[-1] if skipped else 'nothing skipped'}; "
                f"text {len(out.strip())} characters"
            )
    longest, shortest = max(peaks), min(peaks)
    print(
        f"peak RSS {longest:g} min / {shortest:g} min: {peaks[longest] / peaks[shortest]:.2f} "
        "(target < 1.2)"
    )


if __name__ == "__main__":
    main()
