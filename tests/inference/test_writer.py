"""The streamed NIfTI writer produces the same file content as SimpleITK's writer."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from autosr.imageio import Geometry, read_image, write_image
from autosr.inference.prep import PreparedCase
from autosr.inference.writer import CaseWriter, restore_case
from autosr.scales import VolumeScale
from tests.synthetic import oblique_direction


def _prep(slicing_axis=0):
    rng = np.random.default_rng(0)
    slices = rng.random((4, 2, 6, 8)).astype(np.float32)  # (S, C, h, w) crop of a (7, 11, 13) scan
    params = [{"scheme": "MR", "lower": 0.0, "upper": 500.0, "background": 3.0},
              {"scheme": "CT", "lower": -1000.0, "upper": 1000.0, "background": -1024.0}]
    return PreparedCase(slices, [(2, 6), (4, 10), (3, 11)], params, (7, 11, 13), slicing_axis, np.dtype(np.int16),
                        VolumeScale.in_plane(2, 3, slicing_axis))


@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_streamed_nifti_equals_simpleitk_write(tmp_path, dtype):
    prep, geom = _prep(), Geometry((0.7, 0.8, 3.0), (1.0, -2.0, 5.0), oblique_direction(30))
    rng = np.random.default_rng(1)
    sr = rng.random((4, 2, 12, 16)).astype(np.float32) * 1.2 - 0.1  # s = 2, with overshoot
    files = [tmp_path / "s" / f"c_{k:04d}.nii.gz" for k in range(2)]
    w = CaseWriter(prep, geom, files, dtype, background_thread=True)
    assert w.streams is not None
    w.add(0, sr[:3])
    w.add(3, sr[3:])
    w.close().result()
    full = restore_case(sr, prep, dtype)
    assert full.shape == (2, 7, 22, 26) and full.dtype == dtype
    for c, f in enumerate(files):
        ref = tmp_path / "ref" / f.name
        write_image(full[c], geom.refined(VolumeScale.in_plane(2, 3, 0)), ref)
        a, b = gzip.decompress(f.read_bytes()), gzip.decompress(ref.read_bytes())
        assert a == b  # header and voxels byte-identical to SimpleITK's own file
        arr, g = read_image(f)
        np.testing.assert_array_equal(arr, full[c])
    np.testing.assert_array_equal(full[1, 0], -1024)  # outside the crop box: the channel's background
    crop = (slice(2, 6), slice(8, 20), slice(6, 22))  # the crop box on the refined grid (s = 2)
    assert full[0][crop].max() <= 500 and full[1][crop].min() >= -1000  # clamped to the window: no overshoot
    assert not [p for p in (tmp_path / "s").iterdir() if p.name.startswith(".")]


def test_abort_leaves_nothing(tmp_path):
    prep, geom = _prep(), Geometry((1.0, 1.0, 1.0), (0, 0, 0), oblique_direction(0))
    out = tmp_path / "out"
    w = CaseWriter(prep, geom, [out / f"c_{k:04d}.nii.gz" for k in range(2)], np.float32, True)
    w.add(0, np.zeros((2, 2, 12, 16), np.float32))
    w.abort()
    assert list(out.iterdir()) == []
    with pytest.raises(ValueError, match="in order"):
        CaseWriter(prep, None, None).add(1, np.zeros((1, 2, 12, 16), np.float32))


@pytest.mark.parametrize("ending", [".nii.gz", ".nrrd"])
def test_whole_scan_written_like_simpleitk(tmp_path, ending):
    """A through-plane scan arrives whole (write_whole): streamed slice by slice for NIfTI, the same file."""
    prep, geom = _prep(), Geometry((0.7, 0.8, 3.0), (1.0, -2.0, 5.0), oblique_direction(30))
    refined = np.random.default_rng(2).random((2, 7, 22, 26)).astype(np.float32) * 100
    files = [tmp_path / "s" / f"c_{k:04d}{ending}" for k in range(2)]
    w = CaseWriter(prep, geom, files, np.int16, whole=True)
    assert (w.streams is not None) == (ending == ".nii.gz")
    with pytest.raises(ValueError, match="shape"):
        w.write_whole(refined[:, :3])
    w.write_whole(refined)
    w.close().result()
    for c, f in enumerate(files):
        arr, g = read_image(f)
        np.testing.assert_array_equal(arr, np.rint(refined[c]).astype(np.int16))
        assert g.is_close(geom.refined(VolumeScale.in_plane(2, 3, 0)))
    assert not [p for p in (tmp_path / "s").iterdir() if p.name.startswith(".")]
