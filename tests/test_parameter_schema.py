"""Parameters are checked before a run: every problem at once, one line each, and no node runs."""

from __future__ import annotations

import copy
import dataclasses
import pkgutil
import shutil
from pathlib import Path
from typing import Any

import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from transformers import LlamaConfig, WhisperConfig

from peft_pipelines import pipelines
from peft_pipelines.errors import ConfigurationError
from peft_pipelines.parameter_check import pipeline_schema
from peft_pipelines.pipelines.whisper_zh.parameters import VadSection
from peft_pipelines.settings import CONFIG_LOADER_ARGS
from peft_pipelines.speech.vad import VadSettings
from peft_pipelines.training.fitting import CORE_KEYS
from peft_pipelines.training.parameter_schema import TRAINING_CORE_FIELDS
from tests.scratch_project import PROJECT_ROOT, copy_project, kedro_cli, run_pipeline

# The packaged bases of conf/base (converted on a project's first run only, so their own
# config is not at hand here): whisper-base's and SmolLM2-135M's published shapes.
WHISPER_BASE = WhisperConfig(
    d_model=512,
    encoder_layers=6,
    decoder_layers=6,
    encoder_attention_heads=8,
    decoder_attention_heads=8,
    encoder_ffn_dim=2048,
    decoder_ffn_dim=2048,
)
SMOLLM2_135M = LlamaConfig(
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    vocab_size=49152,
)
PACKAGED_BASES = {"whisper_zh": WHISPER_BASE, "opt_quotes": SMOLLM2_135M}


def _environment(env: str) -> tuple[dict[str, Any], DataCatalog]:
    """The parameters and catalog of ``conf/<env>`` over conf/base, as ``kedro run --env <env>`` reads them."""
    loader = OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": env}
    )
    return loader["parameters"], DataCatalog.from_config(loader["catalog"])


@pytest.fixture(scope="module")
def base_parameters() -> dict[str, Any]:
    return _environment("base")[0]


def _problems(parameters: dict[str, Any], pipeline: str, config: Any = WHISPER_BASE) -> list[str]:
    return pipeline_schema(pipeline).problems(pipeline, parameters[pipeline], lambda: config)


def _with(parameters: dict[str, Any], pipeline: str, **changes: Any) -> dict[str, Any]:
    """A copy of ``parameters`` with ``section__key=value`` set under ``pipeline``."""
    changed = copy.deepcopy(parameters)
    for dotted, value in changes.items():
        *path, key = dotted.split("__")
        branch = changed[pipeline]
        for part in path:
            branch = branch[part]
        branch[key] = value
    return changed


def test_every_pipeline_has_a_schema_and_the_training_core_keys_are_typed():
    names = [module.name for module in pkgutil.iter_modules(pipelines.__path__) if module.ispkg]
    assert sorted(names) == ["opt_quotes", "whisper_zh"]
    assert [name for name in names if pipeline_schema(name) is None] == []
    assert set(TRAINING_CORE_FIELDS) == set(CORE_KEYS)


@pytest.mark.parametrize("env", ["base", "full", "hub"])
def test_each_environment_of_the_project_passes(env):
    """conf/full's bases give their config offline (data/01_raw/model_configs); conf/base's are known shapes."""
    parameters, catalog = _environment(env)
    for pipeline in ("whisper_zh", "opt_quotes"):
        config = (
            catalog.get(f"{pipeline}.pretrained_model").load_config()
            if env == "full"
            else PACKAGED_BASES[pipeline]
        )
        assert _problems(parameters, pipeline, config) == [], (env, pipeline)


BAD_WHISPER_PARAMETERS = [
    ({"peft__r": 0}, "whisper_zh.peft.r: must be >= 1 (got 0)"),
    (
        {"training__learning_rate": -1e-3},
        "whisper_zh.training.learning_rate: must be > 0 (got -0.001)",
    ),
    (
        {"training__per_device_train_batch_size": 0},
        "whisper_zh.training.per_device_train_batch_size: must be >= 1 (got 0)",
    ),
    (
        {"peft__peft_type": "LORAX"},
        "whisper_zh.peft.peft_type: not a PEFT method that peft offers (got 'LORAX'); "
        "did you mean 'LORA'?",
    ),
    (
        {"peft__target_modules": ["q_prj"]},
        "whisper_zh.peft.target_modules: matches no module of WhisperForConditionalGeneration "
        "(got ['q_prj']); its linear layers are named fc1, fc2, k_proj, out_proj, proj_out, "
        "q_proj, v_proj",
    ),
    (
        {"peft__target_modules": r".*decoder\.layers\.\d+\.attn\.q_proj"},
        "whisper_zh.peft.target_modules: matches no module of WhisperForConditionalGeneration "
        r"(got '.*decoder\\.layers\\.\\d+\\.attn\\.q_proj'); its linear layers are named fc1, "
        "fc2, k_proj, out_proj, proj_out, q_proj, v_proj",
    ),
    (
        {"base_model__window_seconds": 100},
        "whisper_zh.base_model.window_seconds: must be within the model's own window of 30 s "
        "(got 100)",
    ),
    (
        {"base_model__quantization": "int4"},
        "whisper_zh.base_model.quantization: must be one of 'none', 'int8', 'nf4' (got 'int4')",
    ),
    (
        {"training__learning_rat": 1e-4},
        "whisper_zh.training.learning_rat: unknown key; did you mean 'learning_rate'?",
    ),
    ({"peft__rank": 8}, "whisper_zh.peft.rank: unknown key (not a field of LoraConfig)"),
    (
        {"base_model__quantisation": "none"},
        "whisper_zh.base_model.quantisation: unknown key; did you mean 'quantization'?",
    ),
    (
        {"training__eval_strategy": "step"},
        "whisper_zh.training.eval_strategy: must be one of 'no', 'steps', 'epoch' (got 'step')",
    ),
    (
        {"evaluation__vad__threshold": 1.5},
        "whisper_zh.evaluation.vad.threshold: must be < 1 (got 1.5)",
    ),
    (
        {"evaluation__vad__min_speech_ms": 250.0},
        "whisper_zh.evaluation.vad.min_speech_ms: must be an integer (got 250.0)",
    ),
    (
        {"peft__peft_type": "PREFIX_TUNING"},
        "whisper_zh.peft.peft_type: PREFIX_TUNING is a prompt-learning method: it needs a "
        "task_type (got None)",
    ),
]


@pytest.mark.parametrize(("changes", "line"), BAD_WHISPER_PARAMETERS)
def test_a_bad_parameter_gives_its_one_line(base_parameters, changes, line):
    assert _problems(_with(base_parameters, "whisper_zh", **changes), "whisper_zh") == [line]


def test_several_bad_parameters_give_all_their_lines_at_once(base_parameters):
    independent = [  # the model checks wait for valid base and PEFT settings
        (changes, line)
        for changes, line in BAD_WHISPER_PARAMETERS
        if "target_modules" not in str(changes)
        and "window" not in str(changes)
        and "peft_type" not in str(changes)
    ]
    every = {key: value for changes, _ in independent for key, value in changes.items()}
    problems = _problems(_with(base_parameters, "whisper_zh", **every), "whisper_zh")
    assert sorted(problems) == sorted(line for _, line in independent)


def test_the_model_checks_say_both_a_target_and_a_window_problem(base_parameters):
    bad = _with(
        base_parameters, "whisper_zh", peft__target_modules=["nope"], base_model__window_seconds=31
    )
    assert [line.split(":")[0] for line in _problems(bad, "whisper_zh")] == [
        "whisper_zh.peft.target_modules",
        "whisper_zh.base_model.window_seconds",
    ]


def test_the_vad_section_takes_the_voice_activity_detector_s_settings_and_defaults():
    assert VadSection().model_dump() == dataclasses.asdict(VadSettings())


def test_a_missing_section_is_said_and_the_model_checks_wait_for_it(base_parameters):
    parameters = copy.deepcopy(base_parameters)
    del parameters["whisper_zh"]["peft"], parameters["whisper_zh"]["audio"]
    assert sorted(_problems(parameters, "whisper_zh")) == [
        "whisper_zh.audio: missing: this setting is required",
        "whisper_zh.peft: missing: this setting is required",
    ]


def test_opt_quotes_is_checked_against_trainingarguments_and_its_own_sections(base_parameters):
    bad = _with(
        base_parameters,
        "opt_quotes",
        split__heldout_fraction=1.5,
        generation__prompts=[],
        peft__target_modules=["out_proj"],  # OPT's name; SmolLM2 (LLaMA) calls it o_proj
        training__predict_with_generate=True,  # Seq2SeqTrainingArguments' only
        base_model__window_seconds=5,
    )
    assert sorted(_problems(bad, "opt_quotes", SMOLLM2_135M)) == [
        "opt_quotes.base_model.window_seconds: unknown key (known keys: quantization, "
        "gradient_checkpointing, config_overrides, architecture)",
        "opt_quotes.generation.prompts: list should have at least 1 item after validation, "
        "not 0 (got [])",
        "opt_quotes.split.heldout_fraction: must be < 1 (got 1.5)",
        "opt_quotes.training.predict_with_generate: unknown key (neither a field of "
        "TrainingArguments nor one of output_dir, resume, time_budget_minutes)",
    ]
    bad["opt_quotes"]["base_model"].pop("window_seconds")
    assert _problems(bad, "opt_quotes", SMOLLM2_135M)[-1].startswith(
        "opt_quotes.peft.target_modules: matches no module of LlamaForCausalLM (got ['out_proj'])"
    )


def test_the_size_command_says_the_problems_of_a_bad_configuration(tmp_path, capsys):
    from peft_pipelines.cli import size_main  # noqa: PLC0415

    conf = shutil.copytree(PROJECT_ROOT / "conf", tmp_path / "conf")
    full = conf / "full" / "parameters_whisper_zh.yml"
    full.write_text(full.read_text().replace("  peft:\n", "  peft:\n    r: 0\n"))
    assert size_main(["--env", "full", "--conf-source", str(conf)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: whisper_zh.peft.r: must be >= 1 (got 0)"
    ]


def _tree(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.lstat().st_mtime_ns for p in folder.rglob("*")}


@pytest.mark.slow
def test_a_run_with_bad_parameters_stops_before_any_hook_or_node_and_keeps_the_checkpoints(
    tmp_path,
    quick_whisper_catalog,
    quick_whisper_run,
):
    """A tracked scratch project with checkpoints of an earlier run: nothing is written, moved or locked."""
    project = copy_project(tmp_path, tracked=True, catalog=quick_whisper_catalog)
    checkpoints = project / "data/06_models/whisper_zh/checkpoints"
    (checkpoints / "checkpoint-2").mkdir(parents=True)
    (checkpoints / "checkpoint-2" / "trainer_state.json").write_text("{}")
    (checkpoints / "run_fingerprint.json").write_text('{"fingerprint": "an earlier run"}')
    before, data_before = _tree(checkpoints), _tree(project / "data")
    bad = copy.deepcopy(quick_whisper_run)
    bad["whisper_zh"]["training"] = {**bad["whisper_zh"]["training"], "learning_rate": -1e-3}
    bad["whisper_zh"]["peft"] = {**bad["whisper_zh"]["peft"], "target_modules": ["nope"]}
    bad["whisper_zh"]["base_model"] = {"window_seconds": 100}  # the tiny model's window is 5 s
    with pytest.raises(ConfigurationError) as stopped:
        run_pipeline(project, "whisper_zh", bad)
    assert str(stopped.value).splitlines() == [
        "whisper_zh.training.learning_rate: must be > 0 (got -0.001)",
        "whisper_zh.peft.target_modules: matches no module of WhisperForConditionalGeneration "
        "(got ['nope']); its linear layers are named fc1, fc2, k_proj, out_proj, proj_out, "
        "q_proj, v_proj",
        "whisper_zh.base_model.window_seconds: must be within the model's own window of 5 s "
        "(got 100)",
    ]
    assert _tree(checkpoints) == before
    assert _tree(project / "data") == data_before  # no node output, no lock, no .stale
    assert not (project / "mlflow.db").exists()  # tracking never started


@pytest.mark.slow
def test_kedro_run_with_bad_params_prints_every_line_and_exits_2_before_any_node(
    tmp_path, quick_whisper_catalog
):
    project = copy_project(tmp_path, catalog=quick_whisper_catalog)
    result = kedro_cli(
        project,
        "run",
        "--pipelines=whisper_zh",
        "--params",
        "whisper_zh.peft.r=0,whisper_zh.base_model.quantisation=none,"
        "whisper_zh.training.learning_rat=0.01",
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.splitlines()[-3:] == [
        "error: whisper_zh.base_model.quantisation: unknown key; did you mean 'quantization'?",
        "error: whisper_zh.peft.r: must be >= 1 (got 0)",
        "error: whisper_zh.training.learning_rat: unknown key; did you mean 'learning_rate'?",
    ]
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "Running node" not in output  # Kedro logs it before each node
    assert sorted(p.name for p in (project / "data").iterdir()) == ["01_raw", "06_models"]
    assert list((project / "data" / "06_models").iterdir()) == []
