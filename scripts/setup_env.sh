#!/usr/bin/env bash
# Install AutoSR and what it needs, then print the Python to use (last line of stdout).
#
# Where it installs:
#   - $PYTHON when the caller names an interpreter explicitly (make test PYTHON=/path/to/python);
#   - the active virtual environment ($VIRTUAL_ENV) when there is one;
#   - otherwise a virtual environment inside the repository, ./.venv, created here. A system
#     Python is never installed into: Debian's and Ubuntu's refuse it (PEP 668,
#     "externally-managed-environment"), and mixing AutoSR's packages into it would be rude anyway.
# torch is installed only when missing, pinned to 2.13.0: an unpinned torch pulls several GB of
# CUDA packages, and 2.13.0 is the CPU build this machine kind provides.
# --env-only: choose (and create) the environment and print its Python, but install nothing.
set -euo pipefail
ENV_ONLY=0
[ "${1:-}" = "--env-only" ] && ENV_ONLY=1
cd "$(dirname "$0")/.."
say() { echo "setup: $*" >&2; }

if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
elif [ -n "${VIRTUAL_ENV:-}" ]; then
  PY=$VIRTUAL_ENV/bin/python
  [ -x "$PY" ] || { say "error: VIRTUAL_ENV=$VIRTUAL_ENV has no bin/python; activate a working environment or 'deactivate'"; exit 1; }
else
  VENV=.venv
  if [ -d "$VENV" ] && ! "$VENV/bin/python" -c "import sys" >/dev/null 2>&1; then
    say "$VENV is broken (interrupted creation or a moved Python); recreating it"
    rm -rf "$VENV"
  fi
  if [ ! -d "$VENV" ]; then
    BASE=""
    for cand in python3 python3.13 python3.12 python3.11 python3.10; do
      if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        BASE=$(command -v "$cand"); break
      fi
    done
    [ -n "$BASE" ] || { say "error: no Python >= 3.10 on PATH; install one (Debian/Ubuntu: apt install python3 python3-venv)"; exit 1; }
    say "creating a virtual environment in $(pwd -P)/$VENV with $BASE (activate it yourself to run autosr_* commands: . $VENV/bin/activate)"
    if ! "$BASE" -m venv "$VENV" >&2; then
      rm -rf "$VENV"
      say "error: '$BASE -m venv' failed; on Debian/Ubuntu install the venv module: apt install python3-venv"
      exit 1
    fi
  fi
  PY=$(pwd -P)/$VENV/bin/python
fi

if [ "$ENV_ONLY" = 1 ]; then echo "$PY"; exit 0; fi
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  say "torch is missing; installing torch==2.13.0 into $PY"
  "$PY" -m pip install --quiet "torch==2.13.0" >&2
fi
if ! "$PY" -c "import autosr, SimpleITK, nibabel, batchgenerators, skimage, scipy, pandas, tqdm, matplotlib, pytest" >/dev/null 2>&1 \
   || [ "$(cd /tmp && "$PY" -c 'import autosr, os; print(os.path.dirname(os.path.dirname(os.path.realpath(autosr.__file__))))' 2>/dev/null)" != "$(pwd -P)" ]; then
  say "installing AutoSR (pip install -e .[test]) into $PY"
  "$PY" -m pip install --quiet -e ".[test]" >&2
fi
echo "$PY"
