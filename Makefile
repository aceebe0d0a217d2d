# The verbs of the monorepo. `make help` lists them; each sets up what it needs, idempotently.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/build:$(CURDIR)/build/base:$(CURDIR)
export TF_USE_LEGACY_KERAS := 1
# The settings.yaml environment (local, dev, staging, prod): make deploy ENV=dev
export ENV
# The use case (pipelines/usecases/<name>; default: settings.yaml's `usecase`): make run USECASE=iris
export USECASE
MLOPS := $(PY) -m mlops
PYTEST_ARGS ?=
# make run: other data, every step run (CACHE=0), each step's cache decision (EXPLAIN=1),
# one step and what follows it again (FROM=train), every step's output streamed (VERBOSE=1)
RUN_FLAGS = $(if $(DATA),--data "$(DATA)") $(if $(filter 0 false no,$(CACHE)),--no-cache) \
	$(if $(EXPLAIN),--explain) $(if $(FROM),--from "$(FROM)") \
	$(if $(filter-out 0 false no,$(VERBOSE)),--verbose)

.PHONY: help setup venv engine test unit lint ruff contracts ci build images push update-specs \
	compile run run-dev cache-clear serve promote rollback ramp lineage watch monitor status ui screenshots \
	browser deploy component schema usecase bench mutation lock clean

help: ## list the verbs
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: ## the Python virtual environment (.venv) from requirements.lock
	@scripts/setup_venv.sh

engine: venv ## Docker engine, local registry and the python:3.11-slim-bookworm base image
	@scripts/setup_docker.sh
	@scripts/setup_registry.sh "$$($(MLOPS) settings build.registry)"
	@scripts/bootstrap_python_base.sh python:3.11-slim-bookworm

browser: ## headless Chromium (Debian's chromium) for the browser tests and screenshots
	@scripts/setup_browser.sh

setup: venv engine ## everything the other verbs need (seconds when already done)

test: setup browser lint ## lint, then every test (unit, component, browser, Docker engine and registry)
	$(PY) -m pytest -q $(PYTEST_ARGS)

unit: venv ## unit and component tests only (no Docker engine, no browser)
	$(PY) -m pytest -q -m "not docker and not browser" $(PYTEST_ARGS)

lint: contracts ruff ## contract check of every component, and ruff

contracts: venv
	@$(MLOPS) lint

ruff: venv
	@$(VENV)/bin/ruff check .

ci: unit lint build ## the CI chain locally: unit tests, lint, then build

build: setup ## images, push, the pinned specs in dist/components, compile (tracked files stay as they are)
	@$(MLOPS) build

images: setup ## build changed component images (and the base image), tag with the commit
	@$(MLOPS) images

push: setup ## push the images to the registry in settings.yaml
	@$(MLOPS) push

update-specs: venv ## pin each component.yaml in place to its pushed image by digest (CI, in its workspace)
	@$(MLOPS) update-specs

compile: venv ## compile each pipelines/*_pipeline.py to dist/<pipeline>/workflow.tar.gz
	@$(MLOPS) compile

run: build ## the main job: the CT pipeline on a use case (USECASE=x, default taxi), locally, to a served model (DATA=file.csv, CACHE=0, EXPLAIN=1, FROM=step, VERBOSE=1)
	@$(MLOPS) run-local $(RUN_FLAGS) $(if $(PIPELINE),--pipeline "$(PIPELINE)")

run-dev: setup compile ## run with each component's src/ mounted over its last built image (no rebuild)
	@$(MLOPS) run-local --sources $(RUN_FLAGS)

cache-clear: venv ## forget every cached step execution (the lineage stays)
	@$(MLOPS) cache-clear


serve: setup ## start (or keep) the local prediction service on the model registry
	@$(MLOPS) serve

promote: venv ## the canary version takes all the traffic
	@$(MLOPS) promote

rollback: venv ## drop the canary, or go back to the previous stable version
	@$(MLOPS) rollback

ramp: venv ## the canary keeps serving with PERCENT of the traffic (make ramp PERCENT=25)
	@test -n "$(PERCENT)" || { echo "usage: make ramp PERCENT=25" >&2; exit 2; }
	@$(MLOPS) ramp --percent "$(PERCENT)"

lineage: venv ## what the local runs used and produced: make lineage Q="runs" (see README)
	@$(MLOPS) lineage $(if $(USECASE),--usecase "$(USECASE)") $(or $(Q),runs)

watch: build ## new data under triggers.new_data.prefix: a drift check per new span, retraining on drift (ONCE=1, RETRY=uri, ALL=1: every use case)
	@$(MLOPS) watch $(if $(ONCE),--once) $(if $(RETRY),--retry "$(RETRY)") $(if $(ALL),--all-usecases)

monitor: build ## model degradation and the canary: live metrics from labelled predictions, retraining when below, the canary promoted, ramped or rolled back (ONCE=1, ALL=1: every use case)
	@$(MLOPS) monitor $(if $(ONCE),--once) --every $(or $(EVERY),60) $(if $(ALL),--all-usecases)

status: venv ## the serving model, recent runs, spans seen and trigger decisions
	@$(MLOPS) status $(if $(JSON),--json)

ui: venv ## the read-only web UI on http://127.0.0.1:8600: runs, steps, artifacts, models, decisions (PORT=)
	@$(MLOPS) ui --port $(or $(PORT),8600)

screenshots: venv browser ## PNGs of the latest run's report and UI pages -> docs/screenshots/ (RUN=id)
	@$(MLOPS) screenshots $(if $(RUN),--run "$(RUN)")

deploy: venv ## build, upload and deploy to ENV (make deploy ENV=dev; prod needs APPROVE=1)
	@$(MLOPS) deploy --preflight $(if $(APPROVE),--approve)
	@$(MAKE) --no-print-directory build
	@$(MLOPS) deploy $(if $(APPROVE),--approve)

component: venv ## scaffold a new component: make component NAME=my_step
	@test -n "$(NAME)" || { echo "usage: make component NAME=my_step" >&2; exit 2; }
	@$(MLOPS) component "$(NAME)"

schema: venv ## infer a first data schema for the use case, for a person to curate (FORCE=1 replaces it)
	@$(MLOPS) schema $(if $(FORCE),--force)

usecase: venv ## a new use case from a CSV: make usecase NAME=x DATA=file.csv LABEL=column [TASK=binary|multiclass|regression]
	@test -n "$(NAME)" -a -n "$(DATA)" -a -n "$(LABEL)" || { echo "usage: make usecase NAME=x DATA=file.csv LABEL=column [TASK=...]" >&2; exit 2; }
	@$(MLOPS) usecase "$(NAME)" --data "$(DATA)" --label "$(LABEL)" $(if $(TASK),--task "$(TASK)") $(if $(FORCE),--force)

bench: setup ## benchmarks -> bench/results/<name>.json (BENCH=build|data|model|pipeline|quality|scale for one)
	@$(MLOPS) bench $(BENCH)

mutation: venv ## mutation testing (mutmut) of the deciding modules against their fast tests -> bench/results/mutation.json (MODULE=x for one)
	@$(MLOPS) mutation $(MODULE)

lock: ## re-resolve requirements.in into requirements.lock (needs the package registry)
	@scripts/lock.sh

clean: ## remove build outputs (dist/); images and the registry stay
	rm -rf dist
