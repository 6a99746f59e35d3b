"""The whole whisper_zh pipeline, corpus to adapter and metrics, and transcription of new audio."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from peft_pipelines.cli import transcribe_main
from peft_pipelines.io.model_datasets import MANIFEST_FILE, load_adapter, read_manifest
from peft_pipelines.speech.audio import decode_to_mono
from peft_pipelines.speech.decoding import DecodingOptions, Transcript
from peft_pipelines.speech.transcribe import transcribe_samples
from tests.scratch_project import copy_project, run_pipeline
from tests.support import BUNDLED_CORPUS, execute_notebook, notebook_output_text, read_tsv

pytestmark = pytest.mark.slow

REPORTS = Path("data/08_reporting/whisper_zh")
ADAPTERS = Path("data/06_models/whisper_zh/adapter")  # versioned: <timestamp>/adapter


def _speech_file(path: Path, seconds: float, rate: int = 44100) -> Path:
    """Bundled test-split speech, repeated to ``seconds``, as a stereo wav at ``rate`` (not a corpus file)."""
    rows = read_tsv(BUNDLED_CORPUS / "test.tsv")[:5]
    speech = np.concatenate(
        [decode_to_mono((BUNDLED_CORPUS / "clips" / r["path"]).read_bytes(), rate) for r in rows]
    )
    mono = np.resize(speech, int(seconds * rate))
    soundfile.write(path, np.stack([mono, 0.5 * mono], axis=1), rate)
    return path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, quick_whisper_catalog, quick_whisper_run) -> Path:
    """One whole whisper_zh run in a scratch copy of the project."""
    project = copy_project(
        tmp_path_factory.mktemp("project"), tracked=True, catalog=quick_whisper_catalog
    )
    run_pipeline(project, "whisper_zh", quick_whisper_run)
    return project


def _adapter_versions(project: Path) -> list[Path]:
    return sorted((project / ADAPTERS).glob("*/adapter"))


def _base_folder(adapter: Path) -> str:
    return read_manifest(adapter / MANIFEST_FILE).name_or_path


def test_a_run_writes_adapter_metrics_predictions_and_summaries(finished_run):
    metrics = json.loads((finished_run / REPORTS / "metrics.json").read_text())
    for side in ("base", "finetuned"):
        assert set(metrics[side]) == {"wer", "cer", "n", "loops_cut", "no_speech_skipped"}
        assert metrics[side]["n"] == 4
        assert metrics[side]["cer"] >= 0
        long = metrics["long_utterances"][side]
        assert long["n"] == 2 and long["cer"] >= 0 and len(long["seconds"]) == 2
    assert metrics["window_seconds"] == {"clips": 5, "long_utterances": "full"}
    assert "OpenCC t2s" in metrics["normaliser"]
    assert metrics["base_model_random"] is True
    assert "not accuracy" in metrics["note"]
    assert metrics["peft_config"]["r"] == 4
    assert metrics["package_versions"]["peft"]

    predictions = pd.read_csv(finished_run / REPORTS / "predictions.csv")
    assert list(predictions.columns) == [
        "set",
        "path",
        "reference",
        "base_prediction",
        "finetuned_prediction",
        "base_cer",
        "finetuned_cer",
    ]
    assert list(predictions["set"]) == ["test"] * 4 + ["long_utterances"] * 2
    assert predictions["path"].iloc[-1].count(" + ") == 1

    summary = json.loads((finished_run / REPORTS / "peft_summary.json").read_text())
    assert summary["parameters"]["trainable"] > 0 and summary["base_model_random"] is True
    log = json.loads((finished_run / REPORTS / "training_log.json").read_text())
    assert [e["step"] for e in log["log_history"] if "loss" in e] == [1, 2, 3, 4]
    assert len([e for e in log["log_history"] if "eval_loss" in e]) == 2
    (adapter,) = _adapter_versions(finished_run)
    assert (adapter / "adapter_config.json").is_file()
    manifest = read_manifest(finished_run / "data/06_models/whisper_zh/base_model_manifest.json")
    # The same manifest once read: each names the base relative to itself.
    assert read_manifest(adapter / MANIFEST_FILE) == manifest
    assert manifest.window_seconds == 5 and manifest.base_model_random is True
    for figure in ("loss_curve.png", "error_rates.png"):
        assert (finished_run / REPORTS / figure).read_bytes().startswith(b"\x89PNG")


def test_runs_with_lora_rank_4_then_2_are_two_mlflow_runs_and_two_adapter_versions(
    finished_run, capsys, quick_whisper_run
):
    """The module's run tracked r=4; a rerun of the model stages (--tags model) on the same features tracks r=2."""
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    first = _adapter_versions(finished_run)
    features = finished_run / "data/04_feature/whisper_zh/features/dataset_dict.json"
    features_written = features.stat().st_mtime_ns
    rank_2 = copy.deepcopy(quick_whisper_run)
    rank_2["whisper_zh"]["peft"] = {"r": 2}
    run_pipeline(finished_run, "whisper_zh", rank_2, tags=["model"])
    assert features.stat().st_mtime_ns == features_written  # the data stages did not run
    versions = _adapter_versions(finished_run)
    assert len(versions) == 2 and versions[0] == first[0]
    assert json.loads((versions[1] / "adapter_config.json").read_text())["r"] == 2
    summary = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("whisper_zh: ")
    ]
    assert len(summary) == 1 and "RANDOM-WEIGHT BASE" in summary[0], summary
    assert "metrics data/08_reporting/whisper_zh/metrics.json" in summary[0]
    assert f"adapter {versions[1].relative_to(finished_run)}" in summary[0]

    client = MlflowClient(f"sqlite:///{finished_run / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("peft_pipelines")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    assert [run.data.params["whisper_zh.peft.r"] for run in runs] == ["4", "2"]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.tags["base_model_random"] == "true"
        assert run.data.tags["whisper_zh.base_model_random"] == "true"
        assert set(run.data.metrics) >= {"whisper_zh.base.cer", "whisper_zh.finetuned.cer"}
        history = client.get_metric_history(run.info.run_id, "whisper_zh.loss")
        assert [point.step for point in history] == [1, 2, 3, 4]
        adapter = {a.path for a in client.list_artifacts(run.info.run_id, "whisper_zh/adapter")}
        assert "whisper_zh/adapter/adapter_config.json" in adapter

    # The web demo finds each adapter version's test CER through its run's tag.
    from peft_pipelines.demo import recorded_cers  # noqa: PLC0415

    cers = recorded_cers(
        finished_run,
        "whisper_zh",
        versions,
        tracking_uri=f"sqlite:///{finished_run}/mlflow.db",
        metrics_file=None,
    )
    assert cers == {
        version: run.data.metrics["whisper_zh.finetuned.cer"]
        for version, run in zip(versions, runs, strict=True)
    }


def test_the_notebook_shows_metrics_plots_predictions_and_a_new_transcript(finished_run):
    text = notebook_output_text(execute_notebook("whisper_zh.ipynb", finished_run))
    assert "RANDOM weights" in text
    assert "finetuned" in text and "base_prediction" in text
    assert "transcript:" in text and "reference:" in text


def test_a_75_second_stereo_44k1_file_is_transcribed_in_several_windows(finished_run, tmp_path):
    adapter = _adapter_versions(finished_run)[-1]
    model = load_adapter(adapter)
    model.eval()
    from transformers import WhisperProcessor  # noqa: PLC0415

    processor = WhisperProcessor.from_pretrained(_base_folder(adapter))
    audio = _speech_file(tmp_path / "long.wav", seconds=75)
    samples = decode_to_mono(audio.read_bytes(), 16000)
    text, windows, _ = transcribe_samples(
        model, processor, samples, DecodingOptions(max_new_tokens=4)
    )
    window_seconds = 2 * model.get_base_model().config.max_source_positions * 160 / 16000
    assert windows == int(np.ceil(75 / window_seconds)) >= 3
    assert isinstance(text, str)


def _transcribe_cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("whisper-zh-transcribe")
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, check=False, cwd=project
    )


def test_the_transcription_command_prints_text_for_a_new_file(finished_run, tmp_path):
    audio = _speech_file(tmp_path / "new.flac", seconds=4, rate=22050)
    oldest = str(_adapter_versions(finished_run)[0])
    # The latest adapter by default (from the project's catalog), or the one named.
    for extra in ([], ["--base-only"], ["--adapter", oldest]):
        result = _transcribe_cli(finished_run, str(audio), "--max-new-tokens", "4", *extra)
        assert result.returncode == 0, result.stderr[-2000:]
        assert len(result.stdout.splitlines()) == 1
        # The user sees the transcript, not the libraries' warnings.
        assert "warn" not in result.stderr.lower(), result.stderr[-2000:]


def test_a_looping_decoder_stops_at_the_length_the_audio_could_hold(finished_run):
    """The random tiny base loops: its transcript is bounded by the clip's length, not max_new_tokens."""
    from transformers import WhisperProcessor  # noqa: PLC0415

    from peft_pipelines.speech.transcribe import generate_transcripts, token_budget  # noqa: PLC0415
    from peft_pipelines.training.comparison import on_side  # noqa: PLC0415

    adapter = _adapter_versions(finished_run)[-1]
    model = load_adapter(adapter)
    model.eval()
    processor = WhisperProcessor.from_pretrained(_base_folder(adapter))
    one_second = np.zeros((100, 80), dtype=np.float16)
    loops: list[bool] = []
    with on_side(model, "base"):
        (text,) = generate_transcripts(
            model,
            processor.tokenizer,
            [one_second],
            DecodingOptions(max_new_tokens=400),
            loops=loops,
        )
    assert token_budget(100, 8, 400) == 16
    assert len(processor.tokenizer(text, add_special_tokens=False).input_ids) <= 16
    assert len(loops) == 1


@pytest.mark.parametrize("name", ["nope.mp3", "junk.wav"])
def test_a_missing_or_unreadable_file_is_one_error_line_and_exit_2(
    finished_run, tmp_path, capsys, name
):
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    audio = tmp_path / name
    assert transcribe_main([str(audio), "--adapter", str(_adapter_versions(finished_run)[-1])]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith(f"error: cannot read audio file {audio}")


@pytest.mark.parametrize("broken", ["adapter", "base model"])
def test_a_truncated_adapter_or_base_is_one_error_line_and_exit_2(
    finished_run, tmp_path, capsys, broken
):
    adapter = shutil.copytree(_adapter_versions(finished_run)[-1], tmp_path / "adapter")
    weights = adapter / "adapter_model.safetensors"
    if broken == "base model":
        # The base as the run's adapter names it (from the copy, its relative path leads nowhere).
        base = shutil.copytree(_base_folder(_adapter_versions(finished_run)[-1]), tmp_path / "base")
        weights = base / "model.safetensors"
        manifest = json.loads((adapter / MANIFEST_FILE).read_text())
        (adapter / MANIFEST_FILE).write_text(json.dumps({**manifest, "name_or_path": str(base)}))
    weights.write_bytes(weights.read_bytes()[:100])  # a copy cut short
    audio = _speech_file(tmp_path / "new.wav", seconds=2)
    assert transcribe_main([str(audio), "--adapter", str(adapter)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1, error
    expected = (
        f"error: cannot load the adapter at {adapter}: "
        if broken == "adapter"
        else f"error: cannot load the base model {base} that the adapter at {adapter} was trained on: "
    )
    assert error[0].startswith(expected), error[0]


def _faint_noise(seconds: float, dbfs: float = -70.0) -> np.ndarray:
    noise = np.random.default_rng(0).standard_normal(int(seconds * 16000)) * 10 ** (dbfs / 20)
    return noise.astype(np.float32)


def test_minutes_of_silence_print_no_text_and_say_how_much_was_skipped(finished_run, tmp_path):
    audio = tmp_path / "silence.wav"
    soundfile.write(audio, _faint_noise(180), 16000)
    adapter = _adapter_versions(finished_run)[-1]
    result = _transcribe_cli(finished_run, str(audio), "--adapter", str(adapter))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == "skipped 180.0 of 180.0 s as non-speech"


def test_a_long_file_is_transcribed_in_memory_that_does_not_grow_with_its_length(
    finished_run, tmp_path
):
    import tracemalloc  # noqa: PLC0415

    from transformers import WhisperProcessor  # noqa: PLC0415

    from peft_pipelines.speech.transcribe import transcribe_file  # noqa: PLC0415

    adapter = _adapter_versions(finished_run)[-1]
    model = load_adapter(adapter, window_seconds=None)
    model.eval()
    processor = WhisperProcessor.from_pretrained(_base_folder(adapter))
    speech = decode_to_mono(_speech_file(tmp_path / "speech.wav", seconds=8).read_bytes(), 16000)
    peaks = {}
    for minutes in (2, 8):
        audio = tmp_path / f"{minutes}min.wav"
        soundfile.write(audio, np.concatenate([speech, _faint_noise(minutes * 60)]), 16000)
        tracemalloc.start()
        heard = transcribe_file(model, processor, audio, DecodingOptions(max_new_tokens=4))
        peaks[minutes] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert 7 < heard.speech_seconds < 8.5  # the 8 s of speech (padded), not the noise
        assert heard.seconds == pytest.approx(8 + minutes * 60, abs=0.01)
    decoded_8min = 8 * 60 * 16000 * 4
    assert peaks[8] < decoded_8min / 4, peaks  # never the whole file at once
    assert peaks[8] < 1.5 * peaks[2], peaks  # and not growing with its length


def test_evaluation_does_not_decode_a_clip_without_speech(finished_run, tmp_path):
    from transformers import WhisperProcessor  # noqa: PLC0415

    from peft_pipelines.speech.features import compact_log_mel  # noqa: PLC0415
    from peft_pipelines.speech.transcribe import transcribe_features  # noqa: PLC0415
    from peft_pipelines.speech.vad import DEFAULT_VAD, has_speech  # noqa: PLC0415

    adapter = _adapter_versions(finished_run)[-1]
    model = load_adapter(adapter)
    model.eval()
    processor = WhisperProcessor.from_pretrained(_base_folder(adapter))
    speech = decode_to_mono(_speech_file(tmp_path / "clip.wav", seconds=3).read_bytes(), 16000)
    audio = [_faint_noise(3), speech]
    clips = compact_log_mel(audio, processor.feature_extractor)
    silent, spoken = transcribe_features(
        model,
        processor.tokenizer,
        clips,
        DecodingOptions(max_new_tokens=4, batch_size=2),
        speech=has_speech(audio, DEFAULT_VAD),
    )
    assert silent == Transcript(text="", loop_cut=False, no_speech=True)
    assert spoken.no_speech is False
