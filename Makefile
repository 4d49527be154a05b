# The two commands of README.md. Both install what they need first (scripts/setup_env.sh).
PYTHON ?= python3

.PHONY: setup test demo bench

setup:
	PYTHON=$(PYTHON) bash scripts/setup_env.sh

test: setup
	$(PYTHON) -m pytest -q tests

demo: setup
	$(PYTHON) -m autosr.commands.demo

bench: setup
	$(PYTHON) benchmarks/bench_meta_upscale.py
