# tinyattn-lab: one virtual environment, two entry points (README "Quick start").
#   make run    set up .venv and train + evaluate a tiny-attention adapter on SST-2 with the embedded backbone
#   make test   set up .venv (with the notebook and test extras) and run the whole test suite (browser tests too)
#   make test-browser   only the browser tests: the course in JupyterLab in headless chromium (apt-get install chromium)
# DATA=<folder with glue/> reads a local GLUE mirror (default: $TINYATTN_DATA, else the Hugging Face hub).
# TORCH=<pip spec> chooses the torch build: the default pins the CPU wheel of these machines; on a GPU machine
# `make run TORCH=torch` keeps pip's CUDA build. constraints.txt pins every other package to the versions the tests
# passed with (a new transformers once broke peft's prefix tuning overnight).

VENV   ?= .venv
PYTHON ?= python3
TORCH  ?= torch==2.13.0
DATA   ?= $(TINYATTN_DATA)
RUN    ?= runs/sst2-minilm
COURSE ?= runs/course

export PATH := $(abspath $(VENV))/bin:$(PATH)
# absolute, because notebooks run with notebooks/ as their working directory
export TINYATTN_DATA := $(if $(DATA),$(abspath $(DATA)))

.PHONY: run test test-browser setup lab course benchmark clean

$(VENV)/.core: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q "$(TORCH)"
	$(VENV)/bin/pip install -q -c constraints.txt -e .
	touch $@

$(VENV)/.dev: $(VENV)/.core
	$(VENV)/bin/pip install -q -c constraints.txt -e ".[dev,peft]"
	touch $@

setup: $(VENV)/.dev

run: $(VENV)/.core
	tinyattn-lab train --task sst2 --output $(RUN) --train-size 8000 --evals-per-epoch 4 --lr 3e-3
	tinyattn-lab evaluate $(RUN)/adapter

test: $(VENV)/.dev
	python -m pytest

test-browser: $(VENV)/.dev
	python -m pytest tests/browser

lab: $(VENV)/.dev
	jupyter lab notebooks/

course: $(VENV)/.dev
	tinyattn-lab course --output $(COURSE)

benchmark: $(VENV)/.dev
	python benchmarks/speed.py

clean:
	rm -rf $(VENV) runs
