"""Issue 9: image headers AutoSR cannot trust are refused before any voxel is allocated, naming the file."""
from __future__ import annotations

import gzip
import subprocess
import sys
import textwrap
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from autosr.commands import convert, plan
from autosr.imageio import read_image
from tests.badinput.util import run_refused
from tests.synthetic import make_raw_dataset, phantom

HUGE = (2000, 2000, 500)  # x, y, z: 8 GB of float32 claimed by a header of a few hundred bytes


def _huge_nifti(path: Path) -> Path:
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(HUGE)
    hdr.set_data_dtype(np.float32)
    hdr.set_qform(np.eye(4), code=1)
    blob = hdr.binaryblock + b"\0" * 4 + np.zeros(1000, np.float32).tobytes()  # vox_offset 352
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(blob) if path.name.endswith(".gz") else blob)
    return path


def _huge_mha(path: Path, compressed: bool = False) -> Path:
    data = np.zeros(1000, np.float32).tobytes()
    header = (f"ObjectType = Image\nNDims = 3\nDimSize = {' '.join(map(str, HUGE))}\nElementType = MET_FLOAT\n"
              f"CompressedData = {compressed}\nElementDataFile = LOCAL\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.encode() + (gzip.compress(data) if compressed else data))
    return path


def _huge_nrrd(path: Path) -> Path:
    header = f"NRRD0004\ntype: float\ndimension: 3\nsizes: {' '.join(map(str, HUGE))}\nendian: little\nencoding: gzip\n\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.encode() + gzip.compress(np.zeros(1000, np.float32).tobytes()))
    return path


HUGE_FILES = {"huge.nii.gz": _huge_nifti, "huge.nii": _huge_nifti, "huge.mha": _huge_mha,
              "huge_z.mha": lambda p: _huge_mha(p, compressed=True), "huge.nrrd": _huge_nrrd}


@pytest.mark.parametrize("name", sorted(HUGE_FILES))
def test_convert_refuses_header_claiming_more_than_the_file_holds(tmp_path, autosr_folders, capsys, name):
    src = HUGE_FILES[name](tmp_path / "scans" / name)
    run_refused(convert.main, ["-i", str(src.parent), "-d", "4", "--name", "Huge"], capsys,
                culprits=[f"{name}: file is truncated or its header is wrong", "2000 x 2000 x 500 voxels"],
                watch=[src.parent, autosr_folders["raw"]])


def test_huge_header_is_refused_without_allocating(tmp_path):
    """Peak memory of a fresh process reading every forged header stays far below the 8 GB they claim."""
    for name, make in HUGE_FILES.items():
        make(tmp_path / "forged" / name)
    script = textwrap.dedent(f"""
        import resource, pathlib
        from autosr.errors import ImageReadError
        from autosr.imageio import read_image
        for p in sorted(pathlib.Path({str(tmp_path / "forged")!r}).iterdir()):
            try:
                read_image(p)
            except ImageReadError as exc:
                print("refused", p.name)
        # VmHWM: this program's own peak (ru_maxrss would include the forking pytest process's size)
        hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")]
        print("peak_mb", int(hwm[0].split()[1]) // 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, encoding="utf-8", timeout=120).stdout
    assert out.count("refused") == len(HUGE_FILES), out
    assert int(out.split("peak_mb")[1]) < 600, out


def _nifti(path: Path, pixdim, sform=None, qform_code: int = 0) -> Path:
    """A NIfTI stored with exactly this pixdim (nibabel would 'fix' a zero one), an optional sform and qform code."""
    arr = phantom((6, 20, 24)).astype(np.int16).T
    img = nib.Nifti1Image(arr, None)
    img.header.set_qform(np.eye(4) if qform_code else None, code=qform_code)
    img.header.set_sform(None if sform is None else np.diag([*sform, 1.0]), code=0 if sform is None else 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    raw = bytearray(path.read_bytes() if path.suffix == ".nii" else gzip.decompress(path.read_bytes()))
    raw[80:92] = np.asarray(pixdim, "<f4").tobytes()  # pixdim[1:4] of the NIfTI-1 header
    path.write_bytes(bytes(raw) if path.suffix == ".nii" else gzip.compress(bytes(raw)))
    return path


def test_zero_pixdim_without_qform_sform_is_refused(tmp_path, autosr_folders, capsys):
    src = _nifti(tmp_path / "scans" / "nospacing.nii.gz", (0.8, 0.8, 0.0))
    run_refused(convert.main, ["-i", str(src.parent), "-d", "4", "--name", "NoSpacing"], capsys,
                culprits=["nospacing.nii.gz: voxel spacing unknown (pixdim [0.8", "read as 1 mm"],
                watch=[src.parent, autosr_folders["raw"]])


def test_zero_pixdim_with_qform_only_is_refused(tmp_path):
    from autosr.errors import ImageReadError
    with pytest.raises(ImageReadError, match="voxel spacing unknown"):
        read_image(_nifti(tmp_path / "q.nii", (0.0, 0.8, 3.0), qform_code=1))


def test_positive_pixdim_without_qform_sform_is_a_valid_scanner_less_image(tmp_path):
    arr, geom = read_image(_nifti(tmp_path / "scannerless.nii", (0.8, 0.9, 3.0)))
    assert arr.shape == (6, 20, 24)
    np.testing.assert_allclose(geom.spacing, (0.8, 0.9, 3.0), rtol=1e-6)


def test_zero_pixdim_with_sform_is_refused(tmp_path):
    """ITK takes the spacing from pixdim even when an sform holds it: a zero pixdim would still be read as 1 mm."""
    from autosr.errors import ImageReadError
    with pytest.raises(ImageReadError, match="voxel spacing unknown"):
        read_image(_nifti(tmp_path / "sform.nii", (0.0, 0.0, 0.0), sform=(0.7, 0.75, 2.5)))


def test_plan_refuses_4d_and_unreadable_images(autosr_folders, capsys):
    folder = make_raw_dataset(autosr_folders["raw"], n_cases=3, shape=(4, 24, 28))
    cine = folder / "imagesTr" / "case001_0000.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((28, 24, 4, 3), np.float32), np.eye(4)), str(cine))
    run_refused(plan.main, ["-d", "1", "-np", "1"], capsys, culprits=[f"{cine}: image has 4 dimensions"],
                watch=[autosr_folders["raw"], autosr_folders["preprocessed"]])
    garbage = folder / "imagesTr" / "case001_0000.nii.gz"
    garbage.write_bytes(b"not an image at all" * 20)
    run_refused(plan.main, ["-d", "1", "-np", "1"], capsys, culprits=[f"{garbage}: cannot be read as an image"],
                watch=[autosr_folders["raw"], autosr_folders["preprocessed"]])
