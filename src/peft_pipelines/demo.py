"""A local web demo: the base model and its fine-tuned adapter side by side (`make demo`).

    make demo [PORT=7860]
    peft-pipelines demo --port 7860 [--host 0.0.0.0] [--env ENV]

Speech tab: upload an audio file or record one; one click transcribes it with
base Whisper (adapter disabled) and with the fine-tuned adapter, timing
each; when the adapter has a CTranslate2 export (the export stages', found
through the catalog's ``whisper_zh.ctranslate2_model`` entry at the adapter's
version), a third box gives that export's transcript and time. The adapter
is the latest ``whisper_zh`` one, or one picked from the adapters on disk, each shown with its base model, PEFT settings and test CER
(from MLflow when tracking is on, else from the latest ``metrics.json``). Text
tab: base and fine-tuned ``opt_quotes`` continuations of a prompt.

Built with Gradio, served on 127.0.0.1 unless ``--host`` says otherwise, with
analytics off, no share link and system fonts only: nothing on the page
loads from outside the machine. Models load once per adapter and stay
loaded; requests queue, one at a time, each with its own results. Bad input
(not audio, empty, too large, too long, a prompt over 2,000 characters), a
missing adapter, one deleted after the page loaded and a broken export are
a message on the page; each continuation stops after 20 s. The page's link-preview tags are
ours (title and description, no image from another host).
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peft_pipelines.errors import UserError, first_line
from peft_pipelines.project import (
    Project,
    catalog_filepath,
    quiet_libraries,
    shown_path,
    sqlite_store,
    unreadable_sqlite_reason,
)

logger = logging.getLogger(__name__)
MAX_UPLOAD_BYTES = 25 * 2**20
MAX_AUDIO_SECONDS = 10 * 60
SPEECH, TEXT = "whisper_zh", "opt_quotes"
SAMPLE_PROMPTS = ["Two things are infinite: ", "The secret of getting ahead is "]
# Requests waiting beyond these are told the queue is full: each takes at most a minute or two.
MAX_QUEUED_REQUESTS = 10
PAGE_TITLE = "peft-pipelines demo"
PAGE_DESCRIPTION = (
    "Base and LoRA fine-tuned models side by side: Whisper transcripts and SmolLM2 "
    "continuations, served from this machine."
)


class DemoInputError(UserError, ValueError):
    """Input the demo answers with a message on the page, not a result."""


def check_audio(
    path: str | Path | None,
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_seconds: float = MAX_AUDIO_SECONDS,
) -> Path:
    """The uploaded or recorded file, if it is audio within the limits; else :class:`DemoInputError`."""
    import soundfile  # noqa: PLC0415

    if not path:
        raise DemoInputError("Upload an audio file or record one first.")
    audio = Path(path)
    size = audio.stat().st_size if audio.is_file() else 0
    if size == 0:
        raise DemoInputError("The recording is empty: nothing was recorded or uploaded.")
    if size > max_bytes:
        raise DemoInputError(
            f"The file is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB."
        )
    try:
        info = soundfile.info(audio)
    except (RuntimeError, OSError):
        raise DemoInputError(
            f"{audio.name} is not an audio file the demo can read (wav, flac, mp3 or ogg)."
        ) from None
    if info.frames == 0 or info.duration <= 0:
        raise DemoInputError("The recording is empty: it holds no sound.")
    if info.duration > max_seconds:
        raise DemoInputError(
            f"The audio is {info.duration / 60:.1f} minutes long; the limit is "
            f"{max_seconds / 60:.0f} minutes."
        )
    return audio


@dataclass(frozen=True)
class GenerationLimits:
    """What one text-tab request may ask: the prompt's length, and each model's tokens and seconds.

    A prompt of 93,000 characters held the one-at-a-time queue for minutes;
    ``max_seconds`` goes to ``generate`` as ``max_time`` (transformers stops
    after the step that passes it), so a request takes at most about twice it.
    """

    max_prompt_chars: int = 2000
    max_new_tokens: int = 40
    max_seconds: float = 20.0


class AdapterGoneError(DemoInputError):
    """The adapter picked on the page is no longer on disk."""


def no_adapter_message(pipeline: str) -> str:
    return f"No trained `{pipeline}` adapter yet: run `kedro run --pipelines {pipeline}` first."


@dataclass
class AdapterInfo:
    """One trained adapter on disk, and what the page says about it."""

    folder: Path
    base: str
    peft: dict[str, Any]
    cer: float | None = None
    window_seconds: float | None = None  # the window it was trained with (None: the model's)

    @property
    def label(self) -> str:
        return self.folder.parent.name  # the version: the run's timestamp

    def facts(self) -> str:
        settings = ", ".join(
            f"{key} {self.peft[key]}"
            for key in ("peft_type", "r", "lora_alpha", "target_modules")
            if self.peft.get(key) is not None
        )
        cer = f"{self.cer:.1%}" if self.cer is not None else "not recorded"
        return (
            f"**Adapter** `{shown_path(self.folder)}`  \n**Base** `{shown_path(self.base)}`  \n"
            f"**PEFT** {settings}  \n**Test CER (fine-tuned)** {cer}"
        )


def read_adapter_info(folder: Path) -> AdapterInfo:
    """Base and PEFT settings of an adapter folder, from the files a run wrote beside its weights."""
    from peft_pipelines.io.model_datasets import MANIFEST_FILE, read_manifest  # noqa: PLC0415

    peft = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    manifest_file = folder / MANIFEST_FILE
    manifest = read_manifest(manifest_file) if manifest_file.is_file() else None
    return AdapterInfo(
        folder=folder,
        base=str((manifest and manifest.name_or_path) or peft.get("base_model_name_or_path")),
        peft=peft,
        window_seconds=manifest.window_seconds if manifest else None,
    )


def adapter_versions(root: Path) -> list[Path]:
    """The adapter folders of a versioned adapter dataset, newest first."""
    return sorted(
        (f for f in root.glob("*/adapter") if (f / "adapter_config.json").is_file()),
        reverse=True,
    )


def recorded_cers(
    project: Path,
    pipeline: str,
    adapters: list[Path],
    *,
    tracking_uri: str,
    metrics_file: Path | None,
) -> dict[Path, float]:
    """Test CER per adapter folder: from MLflow runs when tracking is on, else the latest metrics.json.

    ``tracking_uri``: the project's (mlflow.yml); ``metrics_file``: where the
    catalog keeps ``<pipeline>.metrics``.
    """
    cers: dict[Path, float] = {}
    store = sqlite_store(tracking_uri)
    tracked = store is not None and store.is_file()
    if tracked and (reason := unreadable_sqlite_reason(store)):
        logger.warning("%s is unreadable (%s): test CERs from metrics.json only", store, reason)
    elif tracked:
        from mlflow.tracking import MlflowClient  # noqa: PLC0415 (slow import, only if tracked)

        client = MlflowClient(tracking_uri)
        experiments = [e.experiment_id for e in client.search_experiments()]
        for run in (
            client.search_runs(experiments, filter_string=f"tags.`{pipeline}.adapter` != ''")
            if experiments
            else []
        ):
            cer = run.data.metrics.get(f"{pipeline}.finetuned.cer")
            folder = project / run.data.tags[f"{pipeline}.adapter"]
            if cer is not None:
                cers[folder.resolve()] = cer
    if adapters and metrics_file is not None and metrics_file.is_file():
        latest = adapters[0].resolve()
        # The metrics describe the newest adapter if they were written after it.
        if latest not in cers and metrics_file.stat().st_mtime >= latest.stat().st_mtime:
            cer = (
                json.loads(metrics_file.read_text(encoding="utf-8")).get("finetuned", {}).get("cer")
            )
            if cer is not None:
                cers[latest] = float(cer)
    return {folder: cers[folder.resolve()] for folder in adapters if folder.resolve() in cers}


def find_adapters(
    project: Path, pipeline: str, catalog: Any, tracking_uri: str
) -> list[AdapterInfo]:
    """Every trained adapter of ``pipeline`` where the catalog keeps them, newest first."""
    root = catalog_filepath(catalog, f"{pipeline}.adapter")
    folders = adapter_versions(project / root) if root is not None else []
    metrics = catalog_filepath(catalog, f"{pipeline}.metrics")
    cers = recorded_cers(
        project,
        pipeline,
        folders,
        tracking_uri=tracking_uri,
        metrics_file=project / metrics if metrics is not None else None,
    )
    adapters = []
    for folder in folders:
        info = read_adapter_info(folder)
        info.cer = cers.get(folder)
        adapters.append(info)
    return adapters


@dataclass(frozen=True)
class ExportedModel:
    """The CTranslate2 export of one adapter: its folder, its weights' quantization, or what is wrong with it."""

    folder: Path
    quantization: str | None = None
    problem: str | None = None  # one line naming the folder: the export cannot be used

    @property
    def title(self) -> str:
        """The label of its box: "Fine-tuned, CTranslate2 int8"."""
        return f"Fine-tuned, CTranslate2 {self.quantization or ''}".rstrip()

    def fact(self) -> str:
        state = f"⚠ {self.problem}" if self.problem else f"{self.quantization} weights"
        return f"**CTranslate2 export** `{shown_path(self.folder)}`: {state}"


def find_export(project: Path, adapter: AdapterInfo) -> ExportedModel | None:
    """The CTranslate2 export of ``adapter``, checked; None if there is none.

    The export stages save it beside the adapter: under the adapter's version,
    or a later one when exported by a later run
    (:func:`~peft_pipelines.io.exported_models.ctranslate2_export_of`, as the
    transcribe command finds it). A folder that is there but not a whole export
    (a cut ``model.bin``, a vocabulary that is not its tokenizer's), or whose
    parity check failed or never ran, has its ``problem``.
    """
    from peft_pipelines.io.exported_models import (  # noqa: PLC0415
        ExportError,
        check_ctranslate2_folder,
        ctranslate2_export_of,
        unverified_export_problem,
    )

    folder = ctranslate2_export_of(project / adapter.folder)
    if folder is None or not folder.is_dir():
        return None
    try:
        record = check_ctranslate2_folder(folder)
    except ExportError as error:
        return ExportedModel(folder, problem=first_line(error))
    problem = unverified_export_problem(project / adapter.folder)
    quantization = str(record.get("quantization") or "") or None
    if problem:
        problem = f"the CTranslate2 export at {shown_path(folder)} {problem}"
    return ExportedModel(folder, quantization=quantization, problem=problem)


@dataclass
class LoadedModels:
    """Models loaded once per adapter or export folder and kept; safe to share between request threads."""

    models: dict[Path, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def is_loaded(self, folder: Path) -> bool:
        return folder in self.models

    def get(self, folder: Path, load: Any) -> Any:
        """What ``load(folder)`` returned the first time (an adapter's model and processor, an export's transcriber)."""
        with self.lock:
            if folder not in self.models:
                self.models[folder] = load(folder)
            return self.models[folder]


def _timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def transcribe_both(
    model: Any, processor: Any, audio: Path, options: Any
) -> dict[str, tuple[str, float]]:
    """Base (adapter disabled) and fine-tuned transcripts of ``audio``, with seconds taken each.

    ``options``: the pipeline's :class:`~peft_pipelines.speech.decoding.DecodingOptions`.
    """
    from peft_pipelines.speech.transcribe import transcribe_file  # noqa: PLC0415
    from peft_pipelines.training.comparison import on_each_side  # noqa: PLC0415

    sides = on_each_side(
        model, lambda: _timed(lambda: transcribe_file(model, processor, audio, options))
    )
    return {side: (_shown(heard), seconds) for side, (heard, seconds) in sides.items()}


def transcribe_exported(transcriber: Any, audio: Path, options: Any) -> tuple[str, float]:
    """The transcript of ``audio`` by a CTranslate2 export's ``ClipTranscriber``, and the seconds it took.

    Decoded as the other boxes are (``options``: the same ``DecodingOptions``,
    the same detector and chunks), by :func:`~peft_pipelines.speech.transcribe.transcribe_files`.
    """
    from peft_pipelines.speech.transcribe import transcribe_files  # noqa: PLC0415

    (heard,), seconds = _timed(lambda: transcribe_files(transcriber, [audio], options))
    if isinstance(heard, Exception):  # not audio after all: check_audio let it through
        raise heard
    return _shown(heard), seconds


def _shown(heard: Any) -> str:
    if heard.text:
        return heard.text
    if heard.skipped_seconds >= 0.05:
        return f"(no speech heard: {heard.skipped_seconds:.1f} of {heard.seconds:.1f} s skipped)"
    return "(no text)"


def continue_both(
    model: Any, tokenizer: Any, prompt: str, limits: GenerationLimits = GenerationLimits()
) -> dict[str, Any]:
    """Base and fine-tuned greedy continuations of ``prompt``, with seconds taken each.

    Each stops at ``limits.max_new_tokens`` or after ``limits.max_seconds``;
    ``note`` says which of them the time limit cut.
    """
    from peft_pipelines.text.causal_lm import generate_texts  # noqa: PLC0415
    from peft_pipelines.training.comparison import on_each_side  # noqa: PLC0415

    def continuation() -> str:
        (text,) = generate_texts(
            model, tokenizer, [prompt], limits.max_new_tokens, max_time=limits.max_seconds
        )
        return text

    sides = on_each_side(model, lambda: _timed(continuation))
    (base, base_seconds), (tuned, tuned_seconds) = sides["base"], sides["finetuned"]
    cut = [
        side
        for side, seconds in (("base", base_seconds), ("fine-tuned", tuned_seconds))
        if seconds >= limits.max_seconds
    ]
    note = f"; {' and '.join(cut)} stopped at the {limits.max_seconds:g} s limit" if cut else ""
    return {"base": (base, base_seconds), "finetuned": (tuned, tuned_seconds), "note": note}


def _theme() -> Any:
    import gradio as gr  # noqa: PLC0415

    # System fonts: Gradio's default theme would fetch its fonts from Google.
    return gr.themes.Default(
        font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
    )


class DemoHandlers:
    """What the page's buttons do, over one project's catalog and one set of loaded models."""

    def __init__(
        self, project: Path, env: str | None = None, limits: GenerationLimits = GenerationLimits()
    ) -> None:
        self.project = project
        configuration = Project.at(project, env)
        self.catalog = configuration.catalog
        self.tracking_uri = configuration.tracking_uri
        self.decoding = configuration.decoding_options()
        self.loaded = LoadedModels()
        self.limits = limits

    def adapters(self, pipeline: str) -> list[AdapterInfo]:
        return find_adapters(self.project, pipeline, self.catalog, self.tracking_uri)

    def pick(self, pipeline: str, label: str | None) -> AdapterInfo | None:
        """The adapter ``label`` (None: the newest, or None if there is none); :class:`AdapterGoneError` if it was deleted."""
        found = self.adapters(pipeline)
        if label is None:
            return found[0] if found else None
        picked = next((a for a in found if a.label == label), None)
        if picked is None:
            raise AdapterGoneError(
                f"Adapter `{label}` is no longer on disk (deleted after the page loaded): "
                "the list now shows the adapters there; pick one."
            )
        return picked

    def export_of(self, info: AdapterInfo | None) -> ExportedModel | None:
        """The CTranslate2 export of the speech adapter ``info`` (:func:`find_export`); None without one."""
        return find_export(self.project, info) if info else None

    def _facts(self, info: AdapterInfo) -> str:
        export = self.export_of(info)
        return info.facts() + (f"  \n{export.fact()}" if export else "")

    def describe(self, label: str | None) -> str:
        try:
            info = self.pick(SPEECH, label)
        except AdapterGoneError as error:
            return f"⚠ {error}"
        return self._facts(info) if info else no_adapter_message(SPEECH)

    def adapter_choices(self, label: str | None) -> tuple[list[str], str | None, str]:
        """The speech adapters on disk now, the one to show (``label`` if still there, else the newest), its facts."""
        found = self.adapters(SPEECH)
        shown = next((a for a in found if a.label == label), found[0] if found else None)
        facts = self._facts(shown) if shown else no_adapter_message(SPEECH)
        return [a.label for a in found], shown.label if shown else None, facts

    def export_box(self, label: str | None) -> tuple[bool, str]:
        """Whether the page shows the CTranslate2 box for adapter ``label`` (None: the newest), and its title."""
        try:
            export = self.export_of(self.pick(SPEECH, label))
        except AdapterGoneError:
            export = None
        return export is not None, export.title if export else ExportedModel(Path()).title

    def _load_text_model(self, folder: Path) -> tuple[Any, Any]:
        """The opt_quotes adapter on its base, and the tokenizer the run saved."""
        from peft_pipelines.io.model_datasets import load_adapter  # noqa: PLC0415

        model = load_adapter(folder)
        model.eval()
        return model, self.catalog.load(f"{TEXT}.tokenizer")

    def transcribe(
        self, audio: str | None, label: str | None
    ) -> Iterator[tuple[str, str, str, str]]:
        """(base text, fine-tuned text, CTranslate2 text, status line), first a loading notice if need be.

        The CTranslate2 text is "" when the adapter has no export; a broken
        export is a message in its place, the other two texts unaffected.
        """
        try:
            info = self.pick(SPEECH, label)
            checked = check_audio(audio) if info else None
        except DemoInputError as error:
            yield "", "", "", f"⚠ {error}"
            return
        if info is None or checked is None:
            yield "", "", "", no_adapter_message(SPEECH)
            return
        from peft_pipelines.speech.transcribe import load_transcriber  # noqa: PLC0415

        base, tuned, status = "", "", ""
        for base, tuned, status in self._side_by_side(
            info,
            load_transcriber,
            lambda model, processor: transcribe_both(model, processor, checked, self.decoding),
            what=checked.name,
        ):
            yield base, tuned, "", status
        export = self.export_of(info)
        if export is None:
            return
        if not export.problem and not self.loaded.is_loaded(export.folder):
            yield (
                base,
                tuned,
                "",
                f"{status} Loading the CTranslate2 export (first request only)...",
            )
        exported, timing = self._transcribe_with_export(export, info, checked)
        yield base, tuned, exported, f"{status} {timing}"

    def _transcribe_with_export(
        self, export: ExportedModel, info: AdapterInfo, audio: Path
    ) -> tuple[str, str]:
        """(the export's transcript or a message naming its folder, its part of the status line)."""
        from peft_pipelines.speech.ctranslate2_engine import (  # noqa: PLC0415
            load_ctranslate2_transcriber,
        )

        if export.problem:
            return f"⚠ {export.problem}", f"{export.title}: not served."

        def load(folder: Path) -> Any:
            # No batch is cut below the window the adapter was trained with.
            return load_ctranslate2_transcriber(folder, min_window_seconds=info.window_seconds)

        try:
            transcriber = self.loaded.get(export.folder, load)
            text, seconds = transcribe_exported(transcriber, audio, self.decoding)
        except Exception as error:  # noqa: BLE001 (a message on the page, never a stack trace)
            line = first_line(error)
            if str(export.folder) not in line:
                line = f"the CTranslate2 export at {export.folder}: {line}"
            return f"⚠ {line}", f"{export.title}: failed."
        return text, f"{export.title} {seconds:.1f} s."

    def generate(self, prompt: str) -> Iterator[tuple[str, str, str]]:
        """(base continuation, fine-tuned continuation, status line) of ``prompt``."""
        info = self.pick(TEXT, None)
        if info is None:
            yield "", "", no_adapter_message(TEXT)
            return
        if not prompt.strip():
            yield "", "", "⚠ Type a prompt first."
            return
        if len(prompt) > self.limits.max_prompt_chars:
            yield (
                "",
                "",
                f"⚠ The prompt is {len(prompt):,} characters; "
                f"the limit is {self.limits.max_prompt_chars:,}.",
            )
            return
        yield from self._side_by_side(
            info,
            self._load_text_model,
            lambda model, tokenizer: continue_both(model, tokenizer, prompt, self.limits),
            what="the prompt",
        )

    def _side_by_side(
        self, info: AdapterInfo, load: Any, run: Any, *, what: str
    ) -> Iterator[tuple[str, str, str]]:
        from peft_pipelines.io.model_datasets import AdapterLoadError  # noqa: PLC0415

        if not self.loaded.is_loaded(info.folder):
            yield (
                "",
                "",
                f"Loading the base model and adapter `{info.label}` (first request only)...",
            )
        try:
            model, helper = self.loaded.get(info.folder, load)
            results = run(model, helper)
        except (AdapterLoadError, DemoInputError) as error:
            yield "", "", f"⚠ {first_line(error)}"
            return
        except Exception as error:  # noqa: BLE001 (a message on the page, never a stack trace)
            yield "", "", f"⚠ Could not process {what}: {first_line(error)}"
            return
        (base, base_s), (tuned, tuned_s) = results["base"], results["finetuned"]
        yield (
            base,
            tuned,
            f"Base {base_s:.1f} s, fine-tuned {tuned_s:.1f} s (adapter {info.label}"
            f"{results.get('note', '')}).",
        )


def _speech_tab(gr: Any, app: Any, handlers: DemoHandlers) -> None:
    """The speech tab: audio, the adapter and its facts, and a box per model (CTranslate2's if exported)."""
    speech_adapters = handlers.adapters(SPEECH)
    with gr.Row():
        audio = gr.Audio(
            sources=["upload", "microphone"], type="filepath", label="Audio", elem_id="audio"
        )
        with gr.Column():
            choice = gr.Dropdown(
                choices=[a.label for a in speech_adapters],
                value=speech_adapters[0].label if speech_adapters else None,
                label="Adapter",
                elem_id="adapter",
            )
            facts = gr.Markdown(handlers.describe(None), elem_id="adapter-facts")
    button = gr.Button("Transcribe", variant="primary", elem_id="transcribe")
    status = gr.Markdown(elem_id="speech-status")
    with gr.Row():
        base_box = gr.Textbox(label="Base model", elem_id="base-transcript", lines=4)
        tuned_box = gr.Textbox(label="Fine-tuned", elem_id="finetuned-transcript", lines=4)
        # Shown only for an adapter with a CTranslate2 export.
        has_export, export_title = handlers.export_box(None)
        export_box = gr.Textbox(
            label=export_title, elem_id="ctranslate2-transcript", lines=4, visible=has_export
        )

    def shown_export(label: str | None) -> Any:
        visible, title = handlers.export_box(label)
        return gr.Textbox(label=title, visible=visible)

    def describe(label: str | None) -> tuple[str, Any]:
        return handlers.describe(label), shown_export(label)

    def refresh(label: str | None) -> tuple[Any, str, Any]:
        labels, shown, text = handlers.adapter_choices(label)
        return gr.Dropdown(choices=labels, value=shown), text, shown_export(shown)

    choice.change(describe, inputs=choice, outputs=[facts, export_box])
    # The list follows the disk: adapters deleted or trained since the page was built.
    refreshed = [choice, facts, export_box]
    button.click(
        handlers.transcribe,
        inputs=[audio, choice],
        outputs=[base_box, tuned_box, export_box, status],
    ).then(refresh, inputs=choice, outputs=refreshed, concurrency_limit=None)
    app.load(refresh, inputs=choice, outputs=refreshed, concurrency_limit=None)


def _text_tab(gr: Any, handlers: DemoHandlers) -> None:
    """The text tab: a prompt, and the base and fine-tuned continuations."""
    prompt = gr.Textbox(
        label="Prompt",
        value=SAMPLE_PROMPTS[0],
        info=f"At most {handlers.limits.max_prompt_chars:,} characters.",
        elem_id="prompt",
    )
    go = gr.Button("Continue", variant="primary", elem_id="continue")
    text_status = gr.Markdown(elem_id="text-status")
    with gr.Row():
        base_text = gr.Textbox(label="Base model", elem_id="base-continuation", lines=4)
        tuned_text = gr.Textbox(label="Fine-tuned", elem_id="finetuned-continuation", lines=4)
    go.click(handlers.generate, inputs=prompt, outputs=[base_text, tuned_text, text_status])


def build_app(project: Path, env: str | None = None) -> Any:
    """The Gradio app over the project's trained adapters (found through its catalog)."""
    import gradio as gr  # noqa: PLC0415

    handlers = DemoHandlers(project, env)
    with gr.Blocks(title=PAGE_TITLE, analytics_enabled=False) as app:
        gr.Markdown("# peft-pipelines: base and fine-tuned, side by side")
        with gr.Tab("Speech (whisper_zh)"):
            _speech_tab(gr, app, handlers)
        with gr.Tab("Text (opt_quotes)"):
            _text_tab(gr, handlers)
    # One request at a time: the models are shared, each request's results are its own.
    app.queue(default_concurrency_limit=1, max_size=MAX_QUEUED_REQUESTS)
    return app


def own_preview_tags(page: str) -> str:
    """``page`` with Gradio's link-preview tags (og:, twitter:) replaced by ours: title, description, no image."""
    title, description = html.escape(PAGE_TITLE), html.escape(PAGE_DESCRIPTION)
    ours = (
        f"<title>{title}</title>\n"
        f'<meta name="description" content="{description}" />\n'
        '<meta property="og:type" content="website" />\n'
        f'<meta property="og:title" content="{title}" />\n'
        f'<meta property="og:description" content="{description}" />\n'
        '<meta name="twitter:card" content="summary" />\n'
    )
    # Gradio's tags all come before the head's first script, which holds the app's config as JSON.
    head, script, rest = page.partition("<script")
    return _PREVIEW_TAG.sub("", head) + ours + script + rest


_PREVIEW_TAG = re.compile(r"<meta\s[^>]*?(?:property|name)=\"(?:og|twitter):[^>]*>\s*")


class OwnPreviewTags:
    """ASGI middleware: the page itself (GET /) is served with :func:`own_preview_tags` applied.

    Gradio's page template hard-codes its og:/twitter: tags (title "Gradio", an
    image on raw.githubusercontent.com) and no option removes them: ``head=``
    only adds tags, and only once the page's script runs, which link previews
    never do. So they are rewritten on the way out; every other response
    passes through untouched.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != "/":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        body = bytearray()

        async def rewrite(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            headers = list(start.get("headers", []))
            page = bytes(body)
            if any(k == b"content-type" and v.startswith(b"text/html") for k, v in headers):
                page = own_preview_tags(page.decode("utf-8")).encode("utf-8")
                headers = [(k, v) for k, v in headers if k != b"content-length"]
                headers.append((b"content-length", str(len(page)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, rewrite)


def launch(app: Any, host: str, port: int, *, block: bool = True) -> None:
    """Serve ``app`` as `make demo` does: no share link, no outside fonts, tags or links."""
    from starlette.middleware import Middleware  # noqa: PLC0415 (with gradio, only to serve)

    app.launch(
        server_name=host,
        server_port=port,
        share=False,
        theme=_theme(),
        ssr_mode=False,
        max_file_size=MAX_UPLOAD_BYTES,
        footer_links=[],
        show_error=False,
        quiet=True,
        prevent_thread_lock=not block,
        # FastAPI's own option, which launch() hands on: our middleware innermost.
        app_kwargs={"middleware": [Middleware(OwnPreviewTags)]},
    )


def serve_demo(project_dir: Path, env: str | None, host: str, port: int) -> None:
    """Serve the demo of the project in ``project_dir`` on ``host:port`` until interrupted (`peft-pipelines demo`)."""
    # Before Gradio is imported: no analytics, no version check, nothing sent out.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    quiet_libraries()
    project = project_dir.resolve()
    os.chdir(project)  # the catalog's paths are relative to the project, as for `kedro run`
    app = build_app(project, env)
    print(f"demo: http://{host}:{port}/", flush=True)
    launch(app, host, port)
