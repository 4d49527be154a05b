"""Which existing outputs may be skipped: a small JSON record beside each predicted case.

``{case}.autosr.json`` in the output folder says which model (folder, fold checkpoints by size
and modification time), request (scale or target spacing, ``--keep_dtype``), input files and
AutoSR version the case's outputs come from, and what those output files were when written. A
later run skips a case only when its record matches all of that; anything else (no record,
another scale or model, an edited input, an output replaced since) is predicted again.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from autosr import __version__
from autosr.inference.inputs import CaseInput

SUFFIX = ".autosr.json"


def signature(files: Sequence[os.PathLike | str], names_only: bool = False) -> List[List[Any]]:
    """``[[path, size, mtime_ns], ...]``: enough to notice a replaced or edited file."""
    out = []
    for f in files:
        st = Path(f).stat()
        out.append([Path(f).name if names_only else str(Path(f).resolve()), int(st.st_size), int(st.st_mtime_ns)])
    return out


def record_path(folder: Path, case: CaseInput) -> Path:
    return Path(folder) / f"{case.name}{SUFFIX}"


def expected(model: Dict[str, Any], request: Dict[str, Any], case: CaseInput) -> Dict[str, Any]:
    """What the record of ``case`` must say (all but its outputs) for its outputs to be skipped."""
    inputs = [f for ch in sorted(case.dicom_files) for f in case.dicom_files[ch]] or case.sources
    return {"autosr": __version__, "model": model, "request": request, "inputs": signature(inputs)}


def write(path: Path, data: Dict[str, Any], outputs: Sequence[Path], tmp: Path) -> None:
    """Write the record of freshly written ``outputs`` through the temporary folder ``tmp`` (atomic)."""
    part = tmp / path.name
    part.write_text(json.dumps({**data, "outputs": signature(outputs, names_only=True)}, indent=1) + "\n",
                    encoding="utf-8")
    os.replace(part, path)


_WHAT = {"autosr": "another AutoSR version", "model": "another model or checkpoint",
         "request": "another scale, target spacing, --acquisition or --keep_dtype", "inputs": "an input that has changed since"}


def stale_reason(path: Path, want: Dict[str, Any], outputs: Sequence[Path]) -> Optional[str]:
    """``None`` when the record at ``path`` matches ``want`` and describes ``outputs`` as they are; else why not."""
    if not path.is_file():
        return f"no {path.name} says where they come from"
    try:
        have = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"{path.name} is unreadable"
    if not isinstance(have, dict):
        return f"{path.name} is unreadable"
    for key, what in _WHAT.items():
        if have.get(key) != want[key]:
            return f"{path.name} says they were made with {what}"
    if not all(p.is_file() for p in outputs) or have.get("outputs") != signature(outputs, names_only=True):
        return "they were changed or removed after they were written"
    return None


__all__ = ["SUFFIX", "signature", "record_path", "expected", "write", "stale_reason"]
