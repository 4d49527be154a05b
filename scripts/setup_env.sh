#!/usr/bin/env bash
# Install AutoSR and what it needs into the current Python (a virtual environment if one is
# active). torch is installed only when missing, pinned to 2.13.0: an unpinned torch pulls
# several GB of CUDA packages, and 2.13.0 is the CPU build this machine kind provides.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  echo "setup: torch is missing; installing torch==2.13.0"
  "$PY" -m pip install --quiet "torch==2.13.0"
fi
if ! "$PY" -c "import autosr, SimpleITK, batchgenerators, skimage, pandas, tqdm, matplotlib, pytest" >/dev/null 2>&1 \
   || [ "$(cd /tmp && "$PY" -c 'import autosr, os; print(os.path.dirname(os.path.dirname(os.path.realpath(autosr.__file__))))' 2>/dev/null)" != "$(pwd -P)" ]; then
  echo "setup: installing AutoSR (pip install -e .[test])"
  "$PY" -m pip install --quiet -e ".[test]"
fi
