"""The demo's default dataset: the MNI ICBM152 2009a T1 template shipped inside nilearn's wheel.

Real anatomy (a population average of 152 brains, 1 mm, 197×233×189), obtained from PyPI — the
only network the demo may use — without installing nilearn or committing image data here: the
wheel is downloaded with ``pip download --no-deps`` and the one NIfTI file is read from it.
The volume is cut into contiguous axial slabs that act as cases, so the folds hold out
anatomy the model never saw (adjacent slices would leak). Licence: the template is free to
use with attribution (McConnell Brain Imaging Centre); nilearn is BSD-3.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import List

import numpy as np

from autosr.errors import AutoSRError
from autosr.imageio import Geometry, read_image, write_image

logger = logging.getLogger(__name__)

NILEARN_VERSION = "0.14.1"
TEMPLATE_MEMBER = "nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
ATTRIBUTION = ("MNI ICBM152 2009a symmetric T1 template (McConnell Brain Imaging Centre), "
               f"from the nilearn {NILEARN_VERSION} wheel on PyPI")


def fetch_template(cache_dir: Path) -> Path:
    """Return the template NIfTI, downloading nilearn's wheel once into ``cache_dir``."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / Path(TEMPLATE_MEMBER).name
    if target.is_file():
        return target
    wheels = sorted(cache_dir.glob(f"nilearn-{NILEARN_VERSION}-*.whl"))
    if not wheels:
        logger.info("demo: downloading nilearn %s from PyPI (the MNI152 template ships inside it)", NILEARN_VERSION)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
               "-d", str(cache_dir), f"nilearn=={NILEARN_VERSION}"]
        res = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", errors="replace")
        wheels = sorted(cache_dir.glob(f"nilearn-{NILEARN_VERSION}-*.whl"))
        if res.returncode != 0 or not wheels:
            raise AutoSRError(f"could not download nilearn=={NILEARN_VERSION} from PyPI ({res.stderr.strip()[-300:]}); "
                              f"the demo needs PyPI access once, or put the wheel in {cache_dir}")
    with zipfile.ZipFile(wheels[0]) as z:
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".partial")
        with os.fdopen(fd, "wb") as out:
            out.write(z.read(TEMPLATE_MEMBER))
    os.replace(tmp, target)
    return target


def write_slab_cases(template: Path, out_dir: Path, n_slabs: int = 5) -> List[Path]:
    """Cut the template into ``n_slabs`` contiguous axial slabs written as NIfTI cases.

    Each slab keeps exact geometry (its origin is the physical position of its first slice).
    Slabs are taken inside the head's extent so none is empty.
    """
    arr, geom = read_image(template)
    out_dir.mkdir(parents=True, exist_ok=True)
    nonempty = np.flatnonzero(arr.reshape(arr.shape[0], -1).max(axis=1) > 0)
    z0, z1 = int(nonempty[0]), int(nonempty[-1]) + 1
    bounds = np.linspace(z0, z1, n_slabs + 1).round().astype(int)
    paths = []
    for k in range(n_slabs):
        a, b = int(bounds[k]), int(bounds[k + 1])
        origin = geom.index_to_physical(np.array([0.0, 0.0, float(a)]))
        slab_geom = Geometry(geom.spacing, tuple(origin.tolist()), geom.direction)
        path = out_dir / f"mni152_slab{k + 1}.nii.gz"
        if not path.exists():
            write_image(np.ascontiguousarray(arr[a:b]), slab_geom, path)
        paths.append(path)
    return paths
