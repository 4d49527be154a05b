"""Image I/O: write → read keeps array, dtype and geometry; refined-grid writes keep the field of view."""
from __future__ import annotations

import re

import numpy as np
import nibabel as nib
import pytest
import SimpleITK as sitk

from autosr.errors import ImageReadError
from autosr.imageio import Geometry, check_complete, read_case, read_image, reader_for, write_image
from autosr.scales import VolumeScale
from tests.synthetic import LPS, RAS, oblique_direction, phantom

DIRECTIONS = {"LPS": LPS, "RAS": RAS, "oblique": oblique_direction(25.0)}
# NIfTI keeps geometry in float32 (pixdim, quaternion); the others in decimal text or double
TOL = {".nii.gz": 1e-5, ".nii": 1e-5, ".img": 1e-5, ".nrrd": 1e-9, ".mha": 1e-9, ".mhd": 1e-9}


def _geom(direction, spacing=(0.75, 0.9, 3.3), origin=(-12.5, 33.25, 7.0)) -> Geometry:
    return Geometry(tuple(spacing), tuple(origin), tuple(direction))


def _assert_geometry(a: Geometry, b: Geometry, tol: float) -> None:
    np.testing.assert_allclose(a.spacing, b.spacing, rtol=tol, atol=tol)
    np.testing.assert_allclose(a.origin, b.origin, atol=max(tol, 1e-4))
    np.testing.assert_allclose(a.direction, b.direction, atol=max(tol, 1e-6))


@pytest.mark.parametrize("ending", list(TOL))
@pytest.mark.parametrize("orient", list(DIRECTIONS))
def test_roundtrip_preserves_array_dtype_geometry(tmp_path, ending, orient):
    arr = phantom((5, 12, 14), seed=1)
    geom = _geom(DIRECTIONS[orient])
    path = tmp_path / f"img{ending}"
    write_image(arr, geom, path)
    back, g = read_image(path)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)
    _assert_geometry(g, geom, TOL[ending])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
def test_roundtrip_keeps_original_dtype(tmp_path, dtype):
    arr = (np.arange(4 * 6 * 7).reshape(4, 6, 7) % 97).astype(dtype)
    write_image(arr, _geom(LPS), tmp_path / "x.nii.gz")
    back, _ = read_image(tmp_path / "x.nii.gz")
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, arr)


def test_roundtrip_2d(tmp_path):
    arr = phantom((1, 20, 24))[0]
    geom = Geometry((0.5, 0.7), (3.0, -4.0), (0.0, -1.0, 1.0, 0.0))
    write_image(arr, geom, tmp_path / "slice.nrrd")
    back, g = read_image(tmp_path / "slice.nrrd")
    np.testing.assert_array_equal(back, arr)
    _assert_geometry(g, geom, 1e-9)


@pytest.mark.parametrize("orient", list(DIRECTIONS))
@pytest.mark.parametrize("ending", [".nii.gz", ".nrrd"])
def test_refined_write_keeps_physical_extent(tmp_path, orient, ending):
    """n·s integer (40 × 2.5 = 100): both FOV edges, i.e. all corners, are kept to 1e-4 mm."""
    src = _geom(DIRECTIONS[orient], spacing=(0.8, 0.6, 4.0))
    shape = (3, 40, 40)
    out_shape = VolumeScale.in_plane(2.5, 3, 0).shape(shape)
    assert out_shape == (3, 100, 100)
    written = src.refined(VolumeScale.in_plane(2.5, 3, 0))
    write_image(np.zeros(out_shape, np.float32), written, tmp_path / f"sr{ending}")
    _, g = read_image(tmp_path / f"sr{ending}")
    np.testing.assert_allclose(g.spacing, (0.32, 0.24, 4.0), rtol=1e-6)
    np.testing.assert_allclose(g.direction, src.direction, atol=1e-6)
    np.testing.assert_allclose(g.fov_corners(out_shape), src.fov_corners(shape), atol=1e-4)
    # the documented formula: origin' = origin + D·(spacing' − spacing)/2
    expect = np.asarray(src.origin) + src.direction_matrix @ ((np.asarray(written.spacing) - src.spacing) / 2)
    np.testing.assert_allclose(g.origin, expect, atol=1e-4)


def test_refined_write_non_integer_size_keeps_near_edge(tmp_path):
    """n·s not an integer (41 × 2.5): the near edge matches, the far one stops < 1 refined voxel short."""
    src = _geom(oblique_direction(10.0), spacing=(1.0, 1.0, 3.0))
    shape, s = (2, 41, 41), 2.5
    out_shape = VolumeScale.in_plane(s, 3, 0).shape(shape)
    assert out_shape == (2, 102, 102)
    g = src.refined(VolumeScale.in_plane(s, 3, 0))
    first_edge = lambda geom: geom.index_to_physical(np.array([-0.5, -0.5, -0.5]))
    np.testing.assert_allclose(first_edge(g), first_edge(src), atol=1e-9)
    far_src = src.physical_to_index(g.index_to_physical(np.array([101.5, 101.5, 1.5])))
    assert np.all(far_src <= np.array([40.5, 40.5, 1.5]) + 1e-9)
    assert np.all(far_src > np.array([40.5, 40.5, 1.5]) - 1 / s)


def test_truncated_files_are_errors(tmp_path):
    arr = np.random.default_rng(0).random((6, 10, 12)).astype(np.float32)
    for ending in (".nii.gz", ".nii", ".nrrd", ".mha"):
        path = tmp_path / f"full{ending}"
        write_image(arr, _geom(LPS), path)
        data = path.read_bytes()
        cut = tmp_path / f"cut{ending}"
        cut.write_bytes(data[: len(data) * 2 // 3])
        with pytest.raises(ImageReadError, match="cut"):
            read_image(cut)
    check_complete(tmp_path / "full.nii.gz")  # a complete file passes


def test_unreadable_and_missing_files(tmp_path):
    bad = tmp_path / "garbage.nii.gz"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(ImageReadError, match="garbage.nii.gz: cannot be read"):
        read_image(bad)
    with pytest.raises(ImageReadError, match="does not exist"):
        read_image(tmp_path / "nothing.nii.gz")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ImageReadError, match="not a supported image"):
        reader_for(tmp_path / "notes.txt")


def test_4d_and_vector_images_are_refused(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((6, 5, 4, 3), np.float32), np.eye(4)), str(tmp_path / "cine.nii.gz"))
    with pytest.raises(ImageReadError, match="4 dimensions"):
        read_image(tmp_path / "cine.nii.gz")
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 5, 3), np.uint8), isVector=True), str(tmp_path / "rgb.nrrd"))
    with pytest.raises(ImageReadError, match="values per voxel"):
        read_image(tmp_path / "rgb.nrrd")


def test_read_case_stacks_channels_and_refuses_mismatch(tmp_path):
    geom = _geom(RAS)
    a, b = phantom((4, 10, 12), seed=1), phantom((4, 10, 12), seed=2)
    write_image(a, geom, tmp_path / "c_0000.nii.gz")
    write_image(b, geom, tmp_path / "c_0001.nii.gz")
    stacked, g = read_case([tmp_path / "c_0000.nii.gz", tmp_path / "c_0001.nii.gz"])
    assert stacked.shape == (2, 4, 10, 12) and g.is_close(geom)
    write_image(phantom((4, 10, 11)), geom, tmp_path / "c_0002.nii.gz")
    with pytest.raises(ImageReadError, match="c_0002.nii.gz: shape"):
        read_case([tmp_path / "c_0000.nii.gz", tmp_path / "c_0002.nii.gz"])
    write_image(b, _geom(LPS), tmp_path / "c_0003.nii.gz")
    with pytest.raises(ImageReadError, match="c_0003.nii.gz: geometry"):
        read_case([tmp_path / "c_0000.nii.gz", tmp_path / "c_0003.nii.gz"])


def test_real_anisotropic_scan_roundtrip(tmp_path, shared_data):
    """torchio t2: 0.75 × 0.75 × 5.5 mm, oblique direction, int16."""
    arr, geom = read_image(shared_data / "torchio_fpg" / "t2.nii.gz")
    assert arr.dtype == np.int16 and arr.shape == (26, 320, 320)
    np.testing.assert_allclose(geom.spacing, (0.75, 0.75, 5.5), rtol=1e-6)
    write_image(arr, geom, tmp_path / "t2.nii.gz")
    back, g = read_image(tmp_path / "t2.nii.gz")
    np.testing.assert_array_equal(back, arr)
    _assert_geometry(g, geom, 1e-6)


@pytest.mark.parametrize("ending", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_nan_and_inf_refused_in_every_format(tmp_path, ending):
    """ITK's NIfTI reader turns NaN/Inf into 0; read_image must still find and refuse them, naming the file."""
    arr = np.ones((3, 4, 5), np.float32)
    arr[0, 0, :2] = np.nan
    arr[2, 3, 4] = -np.inf
    write_image(arr, _geom(LPS), tmp_path / f"n{ending}")
    with pytest.raises(ImageReadError, match=rf"n{re.escape(ending)}: holds 3 NaN/Inf voxel\(s\)"):
        read_image(tmp_path / f"n{ending}")
    ok = np.random.default_rng(0).random((3, 4, 5)).astype(np.float32)
    write_image(ok, _geom(LPS), tmp_path / f"f{ending}")
    back, geom = read_image(tmp_path / f"f{ending}")
    np.testing.assert_array_equal(back, ok)  # the nibabel read path gives ITK's array
    assert back.dtype == np.float32 and back.flags.c_contiguous and geom.is_close(_geom(LPS))
