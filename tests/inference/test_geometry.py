"""Output geometry: shape ⌊n·s⌋ in-plane, spacing/s, same direction, field of view kept, landmarks stay put."""
from __future__ import annotations

import numpy as np
import pytest

from autosr.imageio import Geometry
from autosr.inference.predictor import Predictor
from tests.inference.helpers import make_model_folder
from tests.synthetic import LPS, RAS, oblique_direction, phantom


def sphere_volume(shape, centre_zyx, radius, spacing_zyx):
    """A bright smooth sphere (mm radius) on a dim background, float32."""
    grids = np.meshgrid(*[np.arange(n) * sp for n, sp in zip(shape, spacing_zyx)], indexing="ij")
    r2 = sum((g - c * sp) ** 2 for g, c, sp in zip(grids, centre_zyx, spacing_zyx))
    return (50 + 800 * np.exp(-r2 / (2 * radius ** 2))).astype(np.float32)


def centroid_mm(arr: np.ndarray, geom: Geometry, threshold: float) -> np.ndarray:
    w = np.clip(arr - threshold, 0, None)
    idx = np.argwhere(w > 0)
    weights = w[w > 0]
    zyx = (idx * weights[:, None]).sum(0) / weights.sum()
    return geom.index_to_physical(zyx[::-1])


@pytest.fixture
def predictor(tmp_path):
    return Predictor.from_model_folder(make_model_folder(tmp_path, margin=(0, 2, 2)), device="cpu", progress=False)


@pytest.mark.parametrize("direction", [LPS, RAS, oblique_direction(20.0), oblique_direction(-35.0)])
def test_refined_geometry_oblique(predictor, direction):
    shape = (5, 24, 30)  # even in-plane sizes: n·2.5 is an integer, so far corners match too
    geom = Geometry((0.8, 0.7, 3.0), (12.0, -40.0, 7.5), direction)
    case = phantom(shape, seed=3)[None].astype(np.float32)
    sr, sr_geom = predictor.predict_case(case, geom, 2.5)
    assert sr.shape == (1, 5, 60, 75) and sr.dtype == np.float32
    np.testing.assert_allclose(sr_geom.spacing, (0.32, 0.28, 3.0), rtol=1e-12)
    assert sr_geom.direction == geom.direction
    np.testing.assert_allclose(sr_geom.fov_corners(sr.shape[1:]), geom.fov_corners(shape), atol=1e-3)


def test_near_corner_kept_at_non_integer_extent(predictor):
    shape = (3, 23, 31)
    geom = Geometry((1.0, 1.1, 2.0), (3.0, 4.0, 5.0), oblique_direction(10.0))
    sr, sr_geom = predictor.predict_case(phantom(shape, seed=1)[None], geom, 2.3)
    assert sr.shape == (1, 3, 52, 71)  # ⌊23·2.3⌋, ⌊31·2.3⌋
    near_in, near_out = geom.fov_corners(shape)[0], sr_geom.fov_corners(sr.shape[1:])[0]
    np.testing.assert_allclose(near_out, near_in, atol=1e-3)
    far_in, far_out = geom.fov_corners(shape)[-1], sr_geom.fov_corners(sr.shape[1:])[-1]
    # the far edge stops short by less than one refined voxel, never beyond
    assert np.linalg.norm(far_out - far_in) < np.linalg.norm(sr_geom.spacing)


def test_slicing_axis_other_than_z(tmp_path):
    folder = make_model_folder(tmp_path, slicing_axis=2, margin=(2, 2, 0))
    pred = Predictor.from_model_folder(folder, device="cpu", progress=False)
    geom = Geometry((4.0, 1.0, 1.0), (0, 0, 0), oblique_direction(30.0))
    sr, sr_geom = pred.predict_case(phantom((20, 22, 6), seed=2)[None], geom, 2)
    assert sr.shape == (1, 40, 44, 6)
    np.testing.assert_allclose(sr_geom.spacing, (4.0, 0.5, 0.5))
    np.testing.assert_allclose(sr_geom.fov_corners(sr.shape[1:]), geom.fov_corners((20, 22, 6)), atol=1e-3)


@pytest.mark.parametrize("direction", [LPS, oblique_direction(25.0)])
def test_landmark_stays_put(predictor, direction):
    """A bright sphere's centre in mm moves less than 0.1 input voxel after SR at s = 2.5."""
    shape, spacing = (5, 40, 44), (3.0, 0.9, 0.8)  # (z, y, x)
    vol = sphere_volume(shape, (2.0, 17.3, 23.6), 4.0, spacing)
    geom = Geometry(tuple(reversed(spacing)), (-20.0, 15.0, 3.0), direction)
    sr, sr_geom = predictor.predict_case(vol[None], geom, 2.5)
    before = centroid_mm(vol, geom, 200.0)
    after = centroid_mm(sr[0], sr_geom, 200.0)
    assert np.linalg.norm(after - before) < 0.1 * min(spacing[1:])


def test_2d_image_is_one_slice(predictor):
    geom = Geometry((0.5, 0.6), (1.0, 2.0), (0.0, -1.0, 1.0, 0.0))
    img = phantom((1, 30, 26), seed=4)[0]
    sr, sr_geom = predictor.predict_case(img[None], geom, 3)
    assert sr.shape == (1, 90, 78)
    np.testing.assert_allclose(sr_geom.spacing, (0.5 / 3, 0.2))
    np.testing.assert_allclose(sr_geom.fov_corners(sr.shape[1:]), geom.fov_corners(img.shape), atol=1e-3)


def test_ct_comes_back_in_hounsfield_units(tmp_path):
    pred = Predictor.from_model_folder(make_model_folder(tmp_path, channels=("CT",)), device="cpu", progress=False)
    ct = phantom((4, 32, 36), seed=5, modality="CT")
    geom = Geometry((0.7, 0.7, 2.5), (0, 0, 0), LPS)
    sr, _ = pred.predict_case(ct[None], geom, 2)
    assert sr.min() >= -1100 and sr.max() > 500  # air ≈ −1000 HU, bone ≈ 700 HU, not [0, 1]
    corner = sr[0, :, :4, :4]
    np.testing.assert_allclose(corner, -1000.0, atol=5.0)
    sr_int, _ = pred.predict_case(ct[None], geom, 2, out_dtype=None)  # --keep_dtype
    assert sr_int.dtype == np.int16 and abs(sr_int.astype(np.float32) - sr).max() <= 0.5 + 1e-3


def test_tiled_prediction_equals_untiled(tmp_path):
    folder = make_model_folder(tmp_path)
    full = Predictor.from_model_folder(folder, device="cpu", progress=False)
    tiled = Predictor.from_model_folder(folder, device="cpu", progress=False, memory_budget=700_000)
    case = phantom((2, 64, 70), seed=6)[None]
    geom = Geometry((1.0, 1.0, 3.0), (0, 0, 0), LPS)
    a, _ = full.predict_case(case, geom, 2.5)
    b, _ = tiled.predict_case(case, geom, 2.5)
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-3)  # original units (~0-800)


def test_intensities_outside_the_normalisation_window_come_back(predictor):
    """A tiny very bright structure (above the 99.5th percentile the MR window ends at) is not clipped."""
    vol = phantom((4, 40, 40), seed=7).astype(np.float32)
    vol[1:3, 18:22, 18:22] = 5000.0  # 32 voxels: far less than 0.5 % of the foreground
    geom = Geometry((1.0, 1.0, 3.0), (0, 0, 0), LPS)
    sr, _ = predictor.predict_case(vol[None], geom, 2)
    assert sr[0, 1:3, 38:42, 38:42].mean() > 4000 and sr.max() <= 5000 and sr.min() >= 0


def test_bicubic_baseline_through_the_predictor(tmp_path):
    """The bicubic path of the same predictor: same geometry, and inside the crop it is bicubic."""
    from autosr.plans import Plans
    plans = Plans.load(make_model_folder(tmp_path) / "plans.json")
    pred = Predictor.bicubic(plans, device="cpu", progress=False)
    vol = sphere_volume((3, 30, 34), (1.0, 14.2, 16.7), 3.0, (2.0, 1.0, 1.0))
    geom = Geometry((1.0, 1.0, 2.0), (5.0, 6.0, 7.0), oblique_direction(40.0))
    sr, sr_geom = pred.predict_case(vol[None], geom, 2.5)
    assert sr.shape == (1, 3, 75, 85)
    np.testing.assert_allclose(sr_geom.fov_corners(sr.shape[1:]), geom.fov_corners(vol.shape), atol=1e-3)
    assert np.linalg.norm(centroid_mm(sr[0], sr_geom, 200.0) - centroid_mm(vol, geom, 200.0)) < 0.1
