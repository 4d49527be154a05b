# The two commands of README.md. Both install what they need first (scripts/setup_env.sh):
# into the active virtual environment, or else into ./.venv, created here (never the system Python).
# PYTHON=/path/to/python names an interpreter to install into and use instead.

.PHONY: setup test demo bench

setup:
	@bash scripts/setup_env.sh >/dev/null

test:
	@PY=$$(bash scripts/setup_env.sh) && "$$PY" -m pytest -q tests

demo:
	@PY=$$(bash scripts/setup_env.sh) && "$$PY" -m autosr.commands.demo

bench:
	@PY=$$(bash scripts/setup_env.sh) && "$$PY" benchmarks/bench_meta_upscale.py
