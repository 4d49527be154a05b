"""What every bad-input test asserts: a non-zero exit, a message naming the culprit, nothing written or changed."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Dict, Iterable, Optional, Sequence, Union

PathLike = Union[str, os.PathLike]


def tree_digest(*roots: PathLike) -> Dict[str, str]:
    """``{path: sha256}`` of every file (and ``{path/: "dir"}`` of every folder) under ``roots``, hidden ones included.

    Comparing the digest before and after a command shows that it wrote, changed or deleted nothing there.
    """
    out: Dict[str, str] = {}
    for root in roots:
        root = Path(root)
        if root.is_file():
            out[str(root)] = hashlib.sha256(root.read_bytes()).hexdigest()
            continue
        if not root.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for d in dirnames:
                out[os.path.join(dirpath, d) + "/"] = "dir"
            for f in filenames:
                p = Path(dirpath) / f
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "special"
    return out


def run_refused(main: Callable[[Optional[Sequence[str]]], int], argv: Sequence[str], capsys,
                culprits: Iterable[str], watch: Sequence[PathLike] = (), exit_code: int = 1) -> str:
    """Run a command's ``main(argv)`` in-process; assert it is refused cleanly and return stderr.

    - the exit code is ``exit_code`` (1: an AutoSR error);
    - stderr names every string in ``culprits`` (file, plans key or option) and holds no traceback;
    - nothing under the ``watch`` paths was written, changed or deleted.
    """
    before = tree_digest(*watch)
    capsys.readouterr()
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == exit_code, f"exit {code}, expected {exit_code}; stderr:\n{err}"
    assert "Traceback" not in err, err
    for c in culprits:
        assert str(c) in err, f"{c!r} not named in:\n{err}"
    after = tree_digest(*watch)
    changed = sorted(k for k in set(after) | set(before) if after.get(k) != before.get(k))
    assert not changed, f"written, changed or deleted: {changed}"
    return err
