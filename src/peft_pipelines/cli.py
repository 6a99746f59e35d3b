"""The project's commands, each written once, in click (Kedro's own CLI library).

    whisper-zh-transcribe clip.mp3 [more.wav ...] [--adapter FOLDER] [--engine ctranslate2|transformers]
                          [--format txt|srt|vtt|json] [--output-dir DIR] [--base-only] [--env ENV]
    peft-pipelines-size --env full --pipeline whisper_zh [--out sizes.json]
    peft-pipelines demo --port 7860 [--host 0.0.0.0] [--env ENV]
    peft-pipelines viz-offline [--serve] [--port 4141]
    kedro stale --pipelines whisper_zh          # what an incremental run would run, and why

:data:`cli` is the ``peft-pipelines`` command and, as Kedro loads the group
``cli`` from a project's ``cli.py``, the project's ``kedro`` commands too:
``kedro transcribe clip.mp3``, ``kedro size --env full``, ``kedro stale``,
``kedro demo``, ``kedro viz-offline`` (``kedro viz`` is kedro-viz's own command,
whose build viz-offline runs). The ``whisper-zh-transcribe`` and
``peft-pipelines-size`` scripts are its :data:`transcribe` and :data:`size`
commands themselves. Its ``run`` is Kedro's own ``run`` (:func:`run_command`),
which ``python -m peft_pipelines`` and a bare ``peft-pipelines`` run as well.

Each command reads the project's configuration (:class:`peft_pipelines.project.Project`,
run from the project root) the way ``kedro run`` does, so an adapter or a model
is found where the catalog says it is. A mistake of the user's is one line per
problem, ``error: ...``, and exit status 2.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from peft_pipelines.errors import ConfigurationError, UserError, first_line
from peft_pipelines.project import Project, quiet_libraries

if TYPE_CHECKING:
    from peft_pipelines.speech.decoding import DecodingOptions
    from peft_pipelines.speech.transcribe import FileTranscript

PACKAGE = Path(__file__).parent.name
# `http://...`, `s3://...`: whatever the scheme, the transcribe command reads only local files.
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
CONF_SOURCE_HELP = "the configuration folder (default: conf in the working directory)"


class CommandInputError(UserError, ValueError):
    """An argument, a file or a configuration a command cannot use (its message is the line shown)."""


def user_mistake(error: BaseException) -> UserError | None:
    """The :class:`UserError` that ``error`` is, or that Kedro wrapped (a ``DatasetError`` raised from it).

    None for anything else: a bug of ours, which keeps its traceback. A
    dataset's load or save error arrives as Kedro's ``DatasetError`` whose
    ``__cause__`` is the dataset's own; a node's error arrives as itself.
    """
    from kedro.io import DatasetError  # noqa: PLC0415 (kedro is slow to import)

    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, UserError):
            return cause
        if not isinstance(cause, DatasetError):
            return None
        cause = cause.__cause__
    return None


class OneLineErrors(click.Command):
    """A command that ends a user's mistake (see :func:`user_mistake`) as ``error: <line>`` lines and its exit status.

    Any other error keeps its traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:
            mistake = user_mistake(error)
            if mistake is None:
                raise
            for line in str(mistake).splitlines() or [type(mistake).__name__]:
                click.echo(f"error: {line}", err=True)
            ctx.exit(mistake.exit_code)


class ProjectCommands(click.Group):
    """The project's command group: ``run`` (:func:`run_command`) is built only when asked for.

    Named no command (``peft-pipelines --pipelines whisper_zh``), it runs
    ``run``, as the script of a packaged Kedro project does.
    """

    command_class = OneLineErrors

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), "run"})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "run":
            return run_command()
        return super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        named = bool(args) and (
            args[0] in self.list_commands(ctx) or args[0] in ctx.help_option_names
        )
        return super().parse_args(ctx, args if named else ["run", *args])


@click.group(name=PACKAGE, cls=ProjectCommands)
def cli() -> None:
    """Project commands (Kedro loads this group from the project's cli.py); run overrides Kedro's."""


def project_at(env: str | None, conf_source: str | None) -> Project:
    """The project in the working directory, its parameters read: a missing conf folder is said here, in one line."""
    project = Project.at(env=env, conf_source=conf_source)
    _ = project.parameters  # a ConfigurationError now, before any model loads
    return project


def _not_a_local_file(given: str) -> str | None:
    """Why ``given`` is not a local, regular, non-empty file, or None: nothing is opened to tell."""
    if URL.match(given):
        return f"{given} is a URL: only local files are read"
    path = Path(given)
    if not path.exists():
        return f"cannot read audio file {path}: no such file"
    if path.is_dir():
        return f"{path} is a directory, not an audio file"
    if not path.is_file():
        return f"{path} is not a regular file (a pipe, socket or device): only files are read"
    if path.stat().st_size == 0:
        return f"{path} is empty (0 bytes)"
    return None


def audio_input_problem(given: str) -> str | None:
    """Why ``given`` is not a local audio file the transcribe command reads, or None if it is one.

    Checked before any model loads. Only regular files are opened: a FIFO
    would block the read forever, and a directory or a URL would come back
    from libsndfile as "Format not recognised" or "System error".
    """
    import soundfile  # noqa: PLC0415 (only this command needs it)

    from peft_pipelines.speech.audio import DECODER_ERRORS, decoder_message  # noqa: PLC0415

    problem = _not_a_local_file(given)
    if problem:
        return problem
    try:
        soundfile.info(given)
    except (OSError, *DECODER_ERRORS) as error:
        return f"cannot read audio file {given}: {decoder_message(error)}"
    return None


def latest_adapter(project: Project) -> Path | None:
    """The folder of the newest version of the catalog's ``whisper_zh.adapter``, or None if no run wrote one."""
    from kedro.io import DatasetError  # noqa: PLC0415

    from peft_pipelines.io.model_datasets import on_disk  # noqa: PLC0415

    try:
        return Path(on_disk(project.catalog.get("whisper_zh.adapter")).resolved_path())
    except DatasetError:
        return None


def adapter_folder(given: str | None, project: Project) -> Path:
    """The adapter to transcribe with: ``given``, else the latest one; :class:`CommandInputError` if there is none."""
    folder = Path(given) if given else latest_adapter(project)
    if folder is None or not (folder / "adapter_config.json").is_file():
        where = folder or "the catalog's whisper_zh.adapter"
        raise CommandInputError(
            f"no adapter at {where}: run `kedro run --pipelines whisper_zh` first"
        )
    return folder


ENGINES = ("ctranslate2", "transformers")


def chosen_engine(engine: str | None, adapter: Path, *, base_only: bool) -> tuple[Path | None, str]:
    """The CTranslate2 export to decode with (None: the transformers model) and why, in words.

    No ``engine`` given: the adapter's CTranslate2 export if its parity check
    passed, else transformers. ``--base-only`` needs transformers: the export
    has the adapter merged in.
    """
    if engine == "transformers":
        return None, "transformers (--engine)"
    if base_only:
        if engine == "ctranslate2":
            raise CommandInputError(
                "--base-only needs --engine transformers: the CTranslate2 export has the adapter "
                "merged in"
            )
        return None, "transformers (--base-only: the CTranslate2 export has the adapter merged in)"
    from peft_pipelines.io.exported_models import (  # noqa: PLC0415
        ctranslate2_export_of,
        unverified_export_problem,
    )

    export = ctranslate2_export_of(adapter)
    exported = export is not None and (export / "model.bin").is_file()
    if engine == "ctranslate2":
        if not exported:
            where = export or f"<dir>/ctranslate2/<version>/ctranslate2 beside {adapter}"
            raise CommandInputError(f"no CTranslate2 export of the adapter at {adapter}: {where}")
        problem = unverified_export_problem(adapter)
        return export, f"ctranslate2 ({export}{f'; {problem}' if problem else ''})"
    if not exported:
        return None, f"transformers (no CTranslate2 export at {export or 'the export layout'})"
    problem = unverified_export_problem(adapter)
    if problem:
        return None, f"transformers (the CTranslate2 export at {export} {problem})"
    return export, f"ctranslate2 ({export})"


def _with_transformers(
    folder: Path, audio: list[Path], options: DecodingOptions, *, base_only: bool
) -> list[FileTranscript | Exception]:
    """The adapter in ``folder`` (or its base alone) on each file; one file as before, several batched together."""
    from peft_pipelines.io.model_datasets import AdapterLoadError  # noqa: PLC0415
    from peft_pipelines.speech import transcribe  # noqa: PLC0415
    from peft_pipelines.speech.audio import UndecodableAudioError  # noqa: PLC0415
    from peft_pipelines.training.comparison import on_side  # noqa: PLC0415

    try:
        model, processor = transcribe.load_transcriber(folder)
    except AdapterLoadError as error:
        raise CommandInputError(first_line(error)) from None
    with on_side(model, "base" if base_only else "finetuned"):
        if len(audio) > 1:
            transcriber = transcribe.TransformersTranscriber(model, processor)
            return list(transcribe.transcribe_files(transcriber, audio, options))
        try:
            return [transcribe.transcribe_file(model, processor, audio[0], options)]
        except UndecodableAudioError as error:
            return [error]


def _with_ctranslate2(
    folder: Path, export: Path, audio: list[Path], options: DecodingOptions
) -> list[FileTranscript | Exception]:
    """The CTranslate2 export of the adapter in ``folder`` on every file, batched together."""
    from peft_pipelines.io.model_datasets import MANIFEST_FILE, read_manifest  # noqa: PLC0415
    from peft_pipelines.speech.ctranslate2_engine import (  # noqa: PLC0415
        load_ctranslate2_transcriber,
    )
    from peft_pipelines.speech.transcribe import transcribe_files  # noqa: PLC0415

    # No batch is cut below the window the adapter was trained with; unknown: the full window.
    manifest = folder / MANIFEST_FILE
    trained = read_manifest(manifest).window_seconds if manifest.is_file() else None
    transcriber = load_ctranslate2_transcriber(export, min_window_seconds=trained)
    return list(transcribe_files(transcriber, audio, options))


def transcripts_of(
    folder: Path,
    audio: list[Path],
    options: DecodingOptions,
    *,
    engine: str | None = None,
    base_only: bool = False,
) -> list[FileTranscript | Exception]:
    """What the adapter in ``folder`` (or its base alone) hears in each file, or why a file could not be read."""
    export, which = chosen_engine(engine, folder, base_only=base_only)
    if export is None:
        heard = _with_transformers(folder, audio, options, base_only=base_only)
    else:
        heard = _with_ctranslate2(folder, export, audio, options)
    click.echo(f"engine: {which}", err=True)
    return heard


def readable_inputs(given: Sequence[str], form: str, output_dir: Path | None) -> list[Path]:
    """The files of ``given`` the command can read, each other one said in an ``error:`` line.

    One file: its problem is the command's error (exit 2 before any model
    loads). Several: the others are still transcribed. None readable,
    several files as SubRip/WebVTT on standard output, or two files that
    would be written to one file of ``output_dir``: :class:`CommandInputError`.
    """
    if len(given) > 1 and form in ("srt", "vtt") and output_dir is None:
        raise CommandInputError(f"several files as {form} need --output-dir: one file each")
    problems = {name: audio_input_problem(name) for name in given}
    if len(given) == 1 and problems[given[0]]:
        raise CommandInputError(problems[given[0]])
    for problem in filter(None, problems.values()):
        click.echo(f"error: {problem}", err=True)
    readable = [Path(name) for name in given if not problems[name]]
    if not readable:
        raise CommandInputError(f"none of the {len(given)} files can be read")
    if output_dir is not None:
        written: dict[Path, Path] = {}
        for path in readable:
            target = output_dir / f"{path.stem}.{form}"
            if target in written:
                raise CommandInputError(
                    f"{written[target]} and {path} would both be written to {target}: "
                    "give them in separate runs or rename one"
                )
            written[target] = path
    return readable


def report_transcripts(
    audio: list[Path],
    heard: list[FileTranscript | Exception],
    form: str,
    output_dir: Path | None,
) -> bool:
    """Print (or write into ``output_dir``) each file's transcript in ``form``; whether every file was read."""
    from peft_pipelines.speech.subtitles import render_transcript  # noqa: PLC0415

    all_read = True
    several = len(audio) > 1
    for path, result in zip(audio, heard, strict=True):
        if isinstance(result, Exception):
            click.echo(f"error: cannot read audio file {path}: {result}", err=True)
            all_read = False
            continue
        if result.skipped_seconds >= 0.05:
            click.echo(
                f"{f'{path}: ' if several else ''}skipped {result.skipped_seconds:.1f} of "
                f"{result.seconds:.1f} s as non-speech",
                err=True,
            )
        if output_dir is not None:
            output_dir.mkdir(parents=True, exist_ok=True)
            target = output_dir / f"{path.stem}.{form}"
            target.write_text(render_transcript(str(path), result, form), encoding="utf-8")
        elif several and form == "txt":
            click.echo(f"{path}\t{result.text}")
        else:
            click.echo(render_transcript(str(path), result, form), nl=False)
    return all_read


@cli.command()
@click.argument("audio", nargs=-1, required=True)
@click.option(
    "--adapter",
    help="an adapter folder a whisper_zh run wrote (default: the latest version of "
    "the catalog's whisper_zh.adapter)",
)
@click.option(
    "--base-only",
    is_flag=True,
    help="transcribe with the adapter's base model alone (adapter disabled), for comparison",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    help="default: the adapter's CTranslate2 export if there is one, else transformers",
)
@click.option(
    "--format",
    "form",
    type=click.Choice(["txt", "srt", "vtt", "json"]),
    default="txt",
    show_default=True,
    help="srt/vtt/json: with each speech chunk's start and end",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="write <file stem>.<format> here for each file instead of printing",
)
@click.option("--env", help="the configuration environment whose parameters and catalog to read")
@click.option("--conf-source", help=CONF_SOURCE_HELP)
@click.option("--language", help="default: params:whisper_zh.model.language")
@click.option("--task", help="default: params:whisper_zh.model.task")
@click.option(
    "--max-new-tokens", type=int, help="default: params:whisper_zh.evaluation.max_new_tokens"
)
def transcribe(
    audio: tuple[str, ...],
    *,
    adapter: str | None,
    base_only: bool,
    engine: str | None,
    form: str,
    output_dir: Path | None,
    env: str | None,
    conf_source: str | None,
    **decoding_flags: Any,
) -> None:
    """Print the transcript of audio files: base Whisper with a trained adapter.

    Any format libsndfile reads (wav, flac, mp3, ogg), any sample rate, mono or
    stereo, any length. It decodes as the whisper_zh evaluation does (its
    parameters; a flag overrides one), with the adapter's CTranslate2 export
    when there is one (much faster on a CPU), else with transformers. The base
    loads with its full input window (30 s for real Whisper), whatever window
    the adapter was trained with: LoRA does not touch the encoder's position
    table. Several files: one line ``file<TAB>text`` each, decoded in shared
    batches; a file that cannot be read is an ``error:`` line, the others are
    still transcribed, and the exit status is 2.
    """
    quiet_libraries()
    readable = readable_inputs(audio, form, output_dir)
    project = project_at(env, conf_source)
    folder = adapter_folder(adapter, project)
    options = project.decoding_options().replace(**decoding_flags)
    heard = transcripts_of(folder, readable, options, engine=engine, base_only=base_only)
    all_read = report_transcripts(readable, heard, form, output_dir)
    if not all_read or len(readable) < len(audio):
        click.get_current_context().exit(2)


def size_summary(project: Project, pipeline: str) -> dict[str, Any]:
    """Parameter counts and memory estimate of ``pipeline``'s configured model, built on PyTorch's meta device."""
    from kedro.io import DatasetError  # noqa: PLC0415

    from peft_pipelines.parameter_check import pipeline_schema  # noqa: PLC0415
    from peft_pipelines.training.nodes import describe_base_model  # noqa: PLC0415
    from peft_pipelines.training.sizing import model_on_meta, size_on_meta  # noqa: PLC0415

    if pipeline not in project.parameters:
        raise CommandInputError(f"no parameters for pipeline {pipeline}")
    params = project.parameters[pipeline]
    source = project.catalog.get(f"{pipeline}.pretrained_model")
    try:
        config = source.load_config()
    except DatasetError as error:
        raise CommandInputError(f"{pipeline}.pretrained_model: {error}") from None
    schema = pipeline_schema(pipeline)
    problems = schema.problems(pipeline, params, lambda: config) if schema else []
    if problems:
        raise ConfigurationError("\n".join(problems))
    # The manifest a run would write: the quantization it trains in, its default included.
    manifest = describe_base_model({"name_or_path": source.location}, params["base_model"])
    model = model_on_meta(config, manifest.architecture)
    summary = size_on_meta(model, params["peft"], manifest.quantization)
    summary["base_model"] = source.location
    return summary


def size_lines(summary: dict[str, Any], pipeline: str, env: str) -> list[str]:
    """What the size command prints of a :func:`size_summary`."""
    counts, memory = summary["parameters"], summary["memory_estimate"]
    return [
        f"{pipeline} ({env}): {summary['base_model']}, {summary['peft_type']}",
        f"trainable {counts['trainable']:,} of {counts['total']:,} "
        f"({counts['trainable_percent']:.4f} %)",
        *(
            f"warning: target module {target!r} matches no module of the model"
            for target in summary["unmatched_target_modules"]
        ),
        f"memory: base weights {memory['base_weights_gib']} GiB ({summary['quantization']}), "
        f"adapter training state {memory['adapter_training_state_gib']} GiB, "
        "activations not included",
    ]


@cli.command()
@click.option(
    "--env",
    default="base",
    show_default=True,
    help="configuration environment: base (offline default) or full",
)
@click.option("--pipeline", default="whisper_zh", show_default=True)
@click.option("--conf-source", help=CONF_SOURCE_HELP)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="also write the summary as JSON"
)
def size(env: str, pipeline: str, conf_source: str | None, out: Path | None) -> None:
    """Parameter counts and a memory estimate of a pipeline's model, without its weights."""
    quiet_libraries()
    summary = size_summary(project_at(env, conf_source), pipeline)
    click.echo("\n".join(size_lines(summary, pipeline, env)))
    if out:
        out.write_text(json.dumps(summary, indent=1))


def stale_lines(
    pipeline_names: list[str], env: str | None = None, runtime_params: dict | None = None
) -> list[str]:
    """One line per node of the pipelines, run from the project root: ``run <node>: <why>`` or ``fresh <node>``.

    The pipelines are the registered ones (``kedro.framework.project.pipelines``)
    and the catalog is :class:`Project`'s, as ``kedro run`` would give them.
    """
    from kedro.framework.project import pipelines  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    from peft_pipelines.fingerprints import plan_run  # noqa: PLC0415

    bootstrap_project(Path.cwd())
    pipeline = sum((pipelines[name] for name in pipeline_names[1:]), pipelines[pipeline_names[0]])
    plan = plan_run(pipeline, Project.at(env=env, runtime_params=runtime_params).catalog)
    lines = [
        f"run    {node.name}: {plan.stale[node.name]}"
        if node.name in plan.stale
        else f"fresh  {node.name}"
        for node in pipeline.nodes
    ]
    return [*lines, f"{len(plan.stale)} of {len(pipeline.nodes)} nodes would run"]


@cli.command()
@click.option("--pipelines", default="__default__", help="comma-separated pipeline names")
@click.option("--env", help="the configuration environment")
@click.option("--params", default="", help="as kedro run's: key=value,key=value")
def stale(pipelines: str, env: str | None, params: str) -> None:
    """List what an incremental run would run, and why (a dry run of the IncrementalRunner)."""
    runtime_params = kedro_runtime_params(params) if params else None
    names = [name.strip() for name in pipelines.split(",")]
    click.echo("\n".join(stale_lines(names, env, runtime_params)))


@cli.command(name="viz-offline")
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path.cwd,
    show_default="the working directory",
)
@click.option("--serve", is_flag=True, help="serve the site after building it")
@click.option("--port", type=int, default=4141, show_default=True)
def viz_offline(project_dir: Path, serve: bool, port: int) -> None:
    """Kedro-Viz of this project with no network: build the static site (--serve: and serve it)."""
    from peft_pipelines.viz_site import build_offline_site, serve_site  # noqa: PLC0415

    site = build_offline_site(project_dir)
    if serve:
        serve_site(site, port)


@cli.command()
@click.option("--port", type=int, default=7860, show_default=True)
@click.option(
    "--host", default="127.0.0.1", help="the address to listen on (default: this machine only)"
)
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path.cwd,
    show_default="the working directory",
)
@click.option("--env", help="the configuration environment whose catalog to read")
def demo(port: int, host: str, project_dir: Path, env: str | None) -> None:
    """The web demo: base and fine-tuned side by side in a browser (see peft_pipelines.demo)."""
    from peft_pipelines.demo import serve_demo  # noqa: PLC0415 (Gradio is slow to import)

    serve_demo(project_dir, env, host, port)


@functools.cache
def run_command() -> click.Command:
    """``kedro run`` with each of its options, ending a user's mistake as ``error: <line>`` lines and exit 2.

    The options, their parsing and the session are Kedro's own ``run``
    command's, invoked through click; only a :class:`UserError` (see
    :func:`user_mistake`) is caught. Built on first use: importing Kedro's
    CLI costs a second that ``whisper-zh-transcribe`` need not pay.
    """
    from kedro.framework.cli.project import run as kedro_run  # noqa: PLC0415

    @click.pass_context
    def run(ctx: click.Context, **options: Any) -> Any:
        import kedro.framework.project as kedro_project  # noqa: PLC0415

        # `kedro` configured the project before; `peft-pipelines` has not (as a package's __main__).
        if kedro_project.PACKAGE_NAME != PACKAGE:
            kedro_project.configure_project(PACKAGE)
        return ctx.forward(kedro_run)

    return OneLineErrors(
        "run",
        callback=run,
        params=kedro_run.params,
        help=f"{kedro_run.help}\n\nA mistake in the data, the configuration or a model is one "
        "line per problem (error: ...) and exit status 2; any other error keeps its traceback.",
        short_help="Run the pipeline.",
    )


def kedro_runtime_params(text: str) -> dict[str, Any]:
    """``--params`` text (``a.b=1,c=x``) read as ``kedro run`` reads it, by that option itself."""
    command = run_command()
    option = next(param for param in command.params if param.name == "params")
    with click.Context(command) as ctx:
        return option.process_value(ctx, text)


def __getattr__(name: str) -> Any:
    # Kedro's find_run_command (python -m peft_pipelines) takes this module's `run`.
    if name == "run":
        return run_command()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def exit_status(command: click.Command, argv: Sequence[str]) -> int:
    """Run ``command`` on ``argv`` in this process, as its script would, and return its exit status."""
    return command.main(list(argv), standalone_mode=False) or 0


def transcribe_main(argv: Sequence[str]) -> int:
    """``whisper-zh-transcribe <argv>`` in this process: its exit status (for tests and benchmarks)."""
    return exit_status(transcribe, argv)


def size_main(argv: Sequence[str]) -> int:
    """``peft-pipelines-size <argv>`` in this process: its exit status (for tests and benchmarks)."""
    return exit_status(size, argv)


if __name__ == "__main__":
    cli()
