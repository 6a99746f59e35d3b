"""The project's command-line tools, beside ``kedro run``.

    whisper-zh-transcribe clip.mp3 [--adapter FOLDER] [--base-only] [--env ENV]
    peft-pipelines-size --env full --pipeline whisper_zh [--out sizes.json]
    python -m peft_pipelines.cli viz [--serve] [--port 4141]
    kedro stale --pipelines whisper_zh          # what an incremental run would run, and why

Each reads the project's configuration (``conf/``, run from the project root)
the way ``kedro run`` does, so an adapter or a model is found where the
catalog says it is. Kedro also finds them here, as project commands:
``kedro transcribe clip.mp3``, ``kedro size --env full``, ``kedro stale``, ``kedro viz-offline``.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from peft_pipelines.errors import ConfigurationError, UserError, first_line
from peft_pipelines.project import Project, quiet_libraries

DEFAULT_CONF = "conf"
# `http://...`, `s3://...`: whatever the scheme, this command reads only local files.
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _latest_adapter(project: Project) -> Path | None:
    """The folder of the newest version of ``whisper_zh.adapter``, or None if no run wrote one."""
    from kedro.io import DatasetError  # noqa: PLC0415

    from peft_pipelines.io.model_datasets import on_disk  # noqa: PLC0415

    inner = on_disk(project.catalog.get("whisper_zh.adapter"))
    try:
        return Path(inner.resolved_path())
    except DatasetError:
        return None


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


def _transcribe_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Transcribe an audio file with base Whisper + a trained adapter."
    )
    parser.add_argument(
        "audio", help="an audio file: wav, flac, mp3, ogg; any rate, mono or stereo, any length"
    )
    parser.add_argument(
        "--adapter",
        help="an adapter folder a whisper_zh run wrote (default: the latest version of "
        "the catalog's whisper_zh.adapter)",
    )
    parser.add_argument(
        "--base-only",
        action="store_true",
        help="transcribe with the adapter's base model alone (adapter disabled), for comparison",
    )
    parser.add_argument("--env", help="the configuration environment whose catalog to read")
    parser.add_argument("--conf-source", default=DEFAULT_CONF)
    parser.add_argument("--language", help="default: params:whisper_zh.model.language")
    parser.add_argument("--task", help="default: params:whisper_zh.model.task")
    parser.add_argument(
        "--max-new-tokens", type=int, help="default: params:whisper_zh.evaluation.max_new_tokens"
    )
    return parser.parse_args(argv)


class NoAdapterError(UserError, FileNotFoundError):
    """No trained adapter where the command looked."""


def _decoding_and_adapter(args: argparse.Namespace) -> tuple[Any, Path]:
    """The pipeline's decoding settings (flags override them) and the adapter folder, before any model loads.

    :class:`UserError` (one line) without a configuration or an adapter.
    """
    project = Project.at(env=args.env, conf_source=args.conf_source)
    options = project.decoding_options().replace(
        language=args.language, task=args.task, max_new_tokens=args.max_new_tokens
    )
    adapter_dir = Path(args.adapter) if args.adapter else _latest_adapter(project)
    if adapter_dir is None or not (adapter_dir / "adapter_config.json").is_file():
        where = adapter_dir or "the catalog's whisper_zh.adapter"
        raise NoAdapterError(f"no adapter at {where}: run `kedro run --pipelines whisper_zh` first")
    return options, adapter_dir


def transcribe_main(argv: list[str] | None = None) -> int:
    """Print the transcript of an audio file, or one error line and exit 2 (whisper-zh-transcribe).

    Any format libsndfile reads (wav, flac, mp3, ogg), any sample rate, mono or
    stereo, any length. The base loads with its full input window (30 s for
    real Whisper), whatever window the adapter was trained with: LoRA does not
    touch the encoder's position table.
    """
    args = _transcribe_arguments(argv)
    quiet_libraries()
    problem = audio_input_problem(args.audio)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    audio = Path(args.audio)
    try:
        options, adapter_dir = _decoding_and_adapter(args)
    except UserError as error:
        print(f"error: {first_line(error)}", file=sys.stderr)
        return 2
    from peft_pipelines.io.model_datasets import AdapterLoadError  # noqa: PLC0415
    from peft_pipelines.speech.audio import UndecodableAudioError  # noqa: PLC0415
    from peft_pipelines.speech.transcribe import load_transcriber, transcribe_file  # noqa: PLC0415
    from peft_pipelines.speech.vad import VadModelError  # noqa: PLC0415
    from peft_pipelines.training.comparison import on_side  # noqa: PLC0415

    try:
        model, processor = load_transcriber(adapter_dir)
    except AdapterLoadError as error:
        print(f"error: {first_line(error)}", file=sys.stderr)
        return 2
    try:
        with on_side(model, "base" if args.base_only else "finetuned"):
            heard = transcribe_file(model, processor, audio, options)
    except UndecodableAudioError as error:
        print(f"error: cannot read audio file {audio}: {error}", file=sys.stderr)
        return 2
    except VadModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if heard.skipped_seconds >= 0.05:
        print(
            f"skipped {heard.skipped_seconds:.1f} of {heard.seconds:.1f} s as non-speech",
            file=sys.stderr,
        )
    if heard.text:
        print(heard.text)
    return 0


def size_main(argv: list[str] | None = None) -> int:
    """Parameter counts and a memory estimate of a pipeline's model, without weights (peft-pipelines-size)."""
    parser = argparse.ArgumentParser(
        description="Parameter counts and memory estimate, without weights."
    )
    parser.add_argument(
        "--env", default="base", help="configuration environment: base (offline default) or full"
    )
    parser.add_argument("--pipeline", default="whisper_zh")
    parser.add_argument("--conf-source", default=DEFAULT_CONF)
    parser.add_argument("--out", help="also write the summary as JSON here")
    args = parser.parse_args(argv)

    from kedro.io import DatasetError  # noqa: PLC0415

    from peft_pipelines.parameter_check import pipeline_schema  # noqa: PLC0415
    from peft_pipelines.training.sizing import model_on_meta, size_on_meta  # noqa: PLC0415

    project = Project.at(env=args.env, conf_source=args.conf_source)
    try:
        parameters, catalog = project.parameters, project.catalog
        if args.pipeline not in parameters:
            raise ConfigurationError(f"no parameters for pipeline {args.pipeline}")
    except UserError as error:
        print(f"error: {first_line(error)}", file=sys.stderr)
        return 2
    params = parameters[args.pipeline]
    source = catalog.get(f"{args.pipeline}.pretrained_model")
    try:
        config = source.load_config()
    except DatasetError as error:
        print(f"error: {args.pipeline}.pretrained_model: {error}", file=sys.stderr)
        return 2
    schema = pipeline_schema(args.pipeline)
    problems = schema.problems(args.pipeline, params, lambda: config) if schema else []
    if problems:
        print("\n".join(f"error: {line}" for line in problems), file=sys.stderr)
        return 2
    base_model = params["base_model"]
    model = model_on_meta(config, base_model["architecture"])
    summary = size_on_meta(model, params["peft"], base_model.get("quantization", "int8"))
    summary["base_model"] = source.location
    counts, memory = summary["parameters"], summary["memory_estimate"]
    print(f"{args.pipeline} ({args.env}): {summary['base_model']}, {summary['peft_type']}")
    print(
        f"trainable {counts['trainable']:,} of {counts['total']:,} ({counts['trainable_percent']:.4f} %)"
    )
    for target in summary["unmatched_target_modules"]:
        print(f"warning: target module {target!r} matches no module of the model")
    print(
        f"memory: base weights {memory['base_weights_gib']} GiB ({summary['quantization']}), "
        f"adapter training state {memory['adapter_training_state_gib']} GiB, activations not included"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1))
    return 0


def stale_lines(
    pipeline_names: list[str], env: str | None = None, runtime_params: dict | None = None
) -> list[str]:
    """One line per node of the pipelines, run from the project root: ``run <node>: <why>`` or ``fresh <node>``."""
    from kedro.framework.project import pipelines  # noqa: PLC0415
    from kedro.framework.session import KedroSession  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    from peft_pipelines.fingerprints import plan_run  # noqa: PLC0415

    bootstrap_project(Path.cwd())
    with KedroSession.create(env=env, runtime_params=runtime_params) as session:
        catalog = session.load_context().catalog
        pipeline = sum(
            (pipelines[name] for name in pipeline_names[1:]), pipelines[pipeline_names[0]]
        )
        plan = plan_run(pipeline, catalog)
    lines = [
        f"run    {node.name}: {plan.stale[node.name]}"
        if node.name in plan.stale
        else f"fresh  {node.name}"
        for node in pipeline.nodes
    ]
    return [*lines, f"{len(plan.stale)} of {len(pipeline.nodes)} nodes would run"]


def stale_main(argv: list[str] | None = None) -> int:
    """List what an incremental run would run, and why (a dry run of the IncrementalRunner)."""
    parser = argparse.ArgumentParser(description=stale_main.__doc__)
    parser.add_argument("--pipelines", default="__default__", help="comma-separated pipeline names")
    parser.add_argument("--env", help="the configuration environment")
    parser.add_argument("--params", default="", help="as kedro run's: key=value,key=value")
    args = parser.parse_args(argv)
    runtime_params = kedro_runtime_params(args.params) if args.params else None
    names = [name.strip() for name in args.pipelines.split(",")]
    print("\n".join(stale_lines(names, args.env, runtime_params)))
    return 0


def viz_main(argv: list[str] | None = None) -> int:
    """Kedro-Viz with no network: build the static site (``--serve``: and serve it on loopback)."""
    from peft_pipelines.viz_site import build_offline_site, serve  # noqa: PLC0415

    parser = argparse.ArgumentParser(description="Kedro-Viz of this project, offline.")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd())
    parser.add_argument("--serve", action="store_true", help="serve the site after building it")
    parser.add_argument("--port", type=int, default=4141)
    args = parser.parse_args(argv)
    site = build_offline_site(args.project_dir)
    if args.serve:
        serve(site, args.port)
    return 0


def _demo_main(argv: list[str] | None = None) -> int:
    """Start the web demo: base and fine-tuned side by side (see peft_pipelines.demo)."""
    from peft_pipelines.demo import main  # noqa: PLC0415 (gradio is slow to import)

    return main(argv)


COMMANDS = {
    "transcribe": transcribe_main,
    "size": size_main,
    "stale": stale_main,
    "viz": viz_main,
    "demo": _demo_main,
}


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
        try:
            return ctx.forward(kedro_run)
        except Exception as error:
            mistake = user_mistake(error)
            if mistake is None:
                raise
            for line in str(mistake).splitlines() or [type(mistake).__name__]:
                click.echo(f"error: {line}", err=True)
            ctx.exit(mistake.exit_code)

    return click.Command(
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


class _ProjectCommands(click.Group):
    """The project's command group; ``run`` (:func:`run_command`) is built only when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), "run"})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "run":
            return run_command()
        return super().get_command(ctx, cmd_name)


@click.group(name="peft_pipelines", cls=_ProjectCommands)
def cli() -> None:
    """Project commands (Kedro loads this group from the project's cli.py); ``run`` overrides Kedro's."""


def __getattr__(name: str) -> Any:
    # Kedro's find_run_command (python -m peft_pipelines) takes this module's `run`.
    if name == "run":
        return run_command()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _add_kedro_command(name: str, main: Any) -> None:
    @cli.command(
        name=name,
        help=(main.__doc__ or "").splitlines()[0],
        context_settings={"ignore_unknown_options": True, "help_option_names": []},
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> None:
        sys.exit(main(list(args)))


# `kedro viz` is kedro-viz's own command (the offline site calls it), hence viz-offline.
for _name, _main in {
    "transcribe": transcribe_main,
    "size": size_main,
    "stale": stale_main,
    "viz-offline": viz_main,
    "demo": _demo_main,
}.items():
    _add_kedro_command(_name, _main)

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python -m peft_pipelines.cli {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
