# make demo  — set up .venv and run the whole workflow on simulated demo data
# make test  — set up .venv and run the test suite
# GPU=1      — install CUDA-enabled xgboost (torch==2.13.0 from PyPI is already a CUDA build there)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
EXTRA := $(if $(GPU),envs/requirements-gpu.txt,envs/requirements-cpu.txt)
STAMP := $(VENV)/.installed$(if $(GPU),-gpu,)
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: setup demo test test-fast lint bench docs schemas clean real-data real-splits peers peers-setup

setup: $(STAMP)

$(STAMP): envs/torch.txt envs/constraints.txt envs/requirements.txt $(EXTRA) envs/no-deps.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r envs/torch.txt
	$(PIP) install -q -c envs/constraints.txt -r envs/requirements.txt -r $(EXTRA)
	$(PIP) install -q --no-deps -r envs/no-deps.txt
	$(PIP) install -q --no-deps --no-build-isolation -e .
	touch $@

demo: setup
	$(BIN)/snakemake --cores $(CORES) --resources gpu=1

test: lint
	$(BIN)/python -m pytest

test-fast: lint
	$(BIN)/python -m pytest -m "not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/snakemake --lint

bench: setup
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/model_cost.py
	$(BIN)/python bench/codes_cost.py

# The real development benchmark (Liu et al. 2021 CITE-seq, bench/liu.py): download once, check, write both splits.
real-data: setup
	$(BIN)/python bench/liu.py

# The workflow on both real splits, with donor-grouped and the seed's random-fold validation (bench/real_splits.py).
real-splits: real-data
	$(BIN)/python bench/real_splits.py --cores $(CORES)

# The peers (totalVI in an environment of its own, Guanlab's kernel ridge, KNN) on both real splits (bench/peers.py).
PEERS_VENV := .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed

peers-setup: $(PEERS_STAMP)

$(PEERS_STAMP): envs/torch.txt envs/constraints.txt envs/peers.txt pyproject.toml
	test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip --disable-pip-version-check install -q -r envs/torch.txt
	$(PEERS_VENV)/bin/python -m pip --disable-pip-version-check install -q -c envs/constraints.txt -r envs/peers.txt
	$(PEERS_VENV)/bin/python -m pip --disable-pip-version-check install -q --no-deps --no-build-isolation -e .
	touch $@

peers: real-data peers-setup
	$(BIN)/python bench/peers.py

# The docs' generated blocks (README.md, docs/*.md) from bench/results/*.json (tests/test_docs.py checks them).
docs: setup
	$(BIN)/python bench/render_docs.py

# The model types' accepted parameters, generated from the estimators (tests check it is current).
schemas: setup
	cd workflow/scripts && $(abspath $(BIN))/python -m msci.models.registry > ../schemas/.model_params.yaml.tmp
	mv workflow/schemas/.model_params.yaml.tmp workflow/schemas/model_params.yaml

clean:
	rm -rf results resources logs benchmarks .snakemake
