"""Geometry of autosr_predict outputs on real scans of ../shared/data (skipped when absent)."""
from __future__ import annotations

import numpy as np
import pytest

from autosr.commands.predict import main
from autosr.imageio import read_image
from tests.inference.helpers import PER_AXIS_NET, PER_AXIS_SCALES, make_model_folder


def _check(src, src_geom, out, out_geom, scale, slicing_axis=0):
    n = src.shape
    expect = tuple(int(k * scale) if a != slicing_axis else k for a, k in enumerate(n))
    assert out.shape == expect
    sp, osp = np.array(src_geom.array_spacing), np.array(out_geom.array_spacing)
    for a in range(3):
        assert osp[a] == pytest.approx(sp[a] if a == slicing_axis else sp[a] / scale, rel=1e-6)  # NIfTI: float32
    np.testing.assert_allclose(out_geom.direction, src_geom.direction, atol=1e-6)  # NIfTI quaternion round trip
    # every corner matches: n·s is an integer for these scans
    np.testing.assert_allclose(out_geom.fov_corners(out.shape), src_geom.fov_corners(n), atol=1e-3)


def test_thick_slice_t2(shared_data, tmp_path, autosr_folders):
    src_file = shared_data / "torchio_fpg" / "t2.nii.gz"
    folder = make_model_folder(autosr_folders["results"], margin=(0, 4, 4))
    out = tmp_path / "out"
    assert main(["-i", str(src_file), "-o", str(out), "-s", "2.5", "-m", str(folder), "-npp", "0",
                 "--disable_progress_bar"]) == 0
    src, src_geom = read_image(src_file)
    sr, sr_geom = read_image(out / "t2_0000.nii.gz")
    assert src.shape == (26, 320, 320)
    _check(src, src_geom, sr, sr_geom, 2.5)
    assert sr.dtype == np.float32 and sr.min() >= 0
    # original units, not [0, 1]: the mean intensity of the anatomy is kept (the net is ≈ bicubic)
    m_src, m_sr = src[13, 80:240, 80:240].astype(np.float32).mean(), sr[13, 200:600, 200:600].mean()
    assert m_src > 50 and abs(m_sr - m_src) < 0.05 * m_src


def test_thick_slice_t2_through_plane(shared_data, tmp_path, autosr_folders):
    """-s 1 1 5.5: the 26 slices of 5.5 mm become 143 of 1 mm over the same field of view."""
    src_file = shared_data / "torchio_fpg" / "t2.nii.gz"
    folder = make_model_folder(autosr_folders["results"], margin=(0, 4, 4), net=PER_AXIS_NET, scales=PER_AXIS_SCALES)
    out = tmp_path / "out"
    assert main(["-i", str(src_file), "-o", str(out), "-s", "1", "1", "5.5", "-m", str(folder),
                 "--disable_progress_bar", "--preview"]) == 0
    src, src_geom = read_image(src_file)
    sr, sr_geom = read_image(out / "t2_0000.nii.gz")
    assert sr.shape == (143, 320, 320)
    np.testing.assert_allclose(sr_geom.spacing, (*src_geom.spacing[:2], 1.0), rtol=1e-6)
    np.testing.assert_allclose(sr_geom.fov_corners(sr.shape), src_geom.fov_corners(src.shape), atol=1e-3)
    # the thick slice's mean over the 5.5 thin slices it covers is kept (the net is ≈ bicubic)
    m_src, m_sr = src[13, 80:240, 80:240].astype(np.float32).mean(), sr[72:77, 80:240, 80:240].mean()
    assert abs(m_sr - m_src) < 0.05 * m_src
    assert (out / "t2.preview.png").stat().st_size > 10000


def test_ct_dicom_series_comes_back_in_hu(shared_data, tmp_path, autosr_folders):
    series = shared_data / "totalsegmentator" / "example_ct_dicom"
    folder = make_model_folder(autosr_folders["results"], channels=("CT",), margin=(0, 4, 4))
    out = tmp_path / "out"
    assert main(["-i", str(series), "-o", str(out), "-s", "2", "-m", str(folder), "-npp", "0", "--keep_dtype",
                 "--disable_progress_bar"]) == 0
    src, src_geom = read_image(series)
    sr, sr_geom = read_image(out / "example_ct_dicom_0000.nii.gz")  # DICOM in, NIfTI out
    assert src.shape == (20, 512, 512)
    _check(src, src_geom, sr, sr_geom, 2)
    assert sr.dtype == src.dtype
    # HU, not [0, 1]: air near −1000 and dense tissue far above 0 survive
    assert sr.min() <= -900 and sr.max() >= 500
    centre = src[10, 200:300, 200:300].astype(np.float32).mean()
    assert abs(sr[10, 400:600, 400:600].astype(np.float32).mean() - centre) < 0.05 * abs(centre) + 20


def test_single_dicom_file_is_a_2d_case(shared_data, tmp_path, autosr_folders):
    src = shared_data / "pydicom_testfiles" / "CT_small.dcm"
    folder = make_model_folder(autosr_folders["results"], channels=("CT",))
    assert main(["-i", str(src), "-o", str(tmp_path), "-s", "1.5", "-m", str(folder), "-npp", "0",
                 "--disable_progress_bar"]) == 0
    img, geom = read_image(src)
    out, out_geom = read_image(tmp_path / "CT_small_0000.nii.gz")  # DICOM in, NIfTI out
    assert out.shape[-2:] == (int(img.shape[-2] * 1.5), int(img.shape[-1] * 1.5))
    np.testing.assert_allclose(out_geom.fov_corners(out.shape)[0], geom.fov_corners(img.shape)[0], atol=1e-3)
