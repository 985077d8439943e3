# fairmot_ros: `make setup` prepares everything, `make demo` runs the main job, `make test` tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# ONNX Runtime build: auto (onnxruntime-gpu where nvidia-smi sees a GPU, else onnxruntime), gpu, cpu.
ORT ?= auto
PYTHON ?= python3
# Extra fairmot-demo options, e.g. DEMO_ARGS="--realtime" or DEMO_ARGS="--frames 401-500 --out /tmp/demo".
DEMO_ARGS ?=
export ORT PYTHON

RUN := scripts/ros-env

.PHONY: help setup test lint pytest demo env-check docs

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 10
	@echo "settings: ORT=auto|gpu|cpu (ONNX Runtime build), PYTHON=python3, DEMO_ARGS='--realtime ...'"

setup: ## create/refresh .venv with ROS 2 Kilted, the interfaces and fairmot_ros (idempotent)
	@scripts/setup

test: setup ## lint (ruff) and run the test suite
	$(RUN) ruff check .
	@$(RUN) python -m fairmot_ros.sequences fetch-pets \
	  || echo "PETS09-S2L1 video unavailable: the tests that need it will skip"
	$(RUN) python -m pytest

lint: setup ## ruff only
	$(RUN) ruff check .

demo: setup ## main job: PETS09-S2L1 401-795 -> bag -> tracker_node over DDS -> recorded bag -> .cache/demo/
	$(RUN) python -m fairmot_ros.sequences fetch-pets
	$(RUN) fairmot-demo $(DEMO_ARGS)

docs: setup ## HTML documentation (README.md + doc/, Sphinx + MyST) into doc/_build/html; warnings are errors
	$(RUN) sphinx-build -W --keep-going -n -q -b html -c doc -d doc/_build/doctrees . doc/_build/html
	@echo "documentation: doc/_build/html/doc/index.html"

env-check: setup ## environment report and a DDS round trip of our messages
	$(RUN) python scripts/env_check.py
