"""A factor per axis: parsing once, the passes it becomes, exact geometry on every axis, refusals."""
from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest

from autosr.commands.predict import main as predict_main
from autosr.imageio import Geometry, read_image, write_image
from autosr.inference.passes import plan_passes
from autosr.inference.predictor import Predictor
from autosr.inference.scale_request import ScaleError, ScaleRequest, TargetSpacingError
from autosr.scales import VolumeScale
from tests.imageio.dicom_util import write_dicom_series
from tests.inference.helpers import PER_AXIS_NET, PER_AXIS_SCALES, make_model_folder
from tests.inference.test_geometry import centroid_mm, sphere_volume
from tests.synthetic import LPS, RAS, oblique_direction, phantom

F = Fraction


@pytest.fixture
def folder(tmp_path):
    return make_model_folder(tmp_path, net=PER_AXIS_NET, scales=PER_AXIS_SCALES, margin=(1, 2, 2))


@pytest.fixture
def predictor(folder):
    return Predictor.from_model_folder(folder, device="cpu", progress=False)


# ------------------------------------------------------------------ the value type and the request
def test_volume_scale_is_xyz_outside_and_array_order_inside():
    vs = VolumeScale.from_xyz(["1", 1, "5.5"])
    assert vs.factors == (F(11, 2), F(1), F(1)) and vs.xyz == (1, 1, F(11, 2)) and str(vs) == "1 1 11/2"
    assert vs.refined_axes == (0,) and vs.shape((26, 10, 12)) == (143, 10, 12)
    assert VolumeScale.in_plane(2.5, 3, 0).factors == (1, F(5, 2), F(5, 2))
    assert VolumeScale.in_plane(2.5, 2, None).factors == (F(5, 2), F(5, 2))
    assert vs.pair(1) == (F(11, 2), 1) and VolumeScale.in_plane(2.5, 3, 0).pair(0) == F(5, 2)
    with pytest.raises(ValueError, match=">= 1"):
        VolumeScale((F(1, 2), F(2), F(2)))


@pytest.mark.parametrize("values,message", [
    (["1", "2", "3", "4"], "not 4"),
    (["1", "0.5", "2"], "y factor 0.5 is below 1"),
    (["1", "1", "1"], "every factor is 1"),
    (["1", "abc", "2"], "y factor 'abc' is not a number"),
    (["0.9"], "greater than 1"),
])
def test_bad_scales_are_refused_in_one_line(values, message):
    with pytest.raises(ScaleError, match=message) as info:
        ScaleRequest.parse(values)
    assert "\n" not in str(info.value)


def test_target_spacing_per_axis():
    g = Geometry((0.75, 0.75, 5.5), (0, 0, 0), LPS)
    vs = ScaleRequest.parse(target_spacing=[0.75, 0.75, 1.0]).resolve(g, 3, 0, "t2")
    assert vs.xyz == (1, 1, F(11, 2))
    vs = ScaleRequest.parse(target_spacing=[0.5, 0.5, 2.0]).resolve(g, 3, 0, "t2")  # 0.75/0.5 = 3/2, 5.5/2 = 11/4
    assert vs.xyz == (F(3, 2), F(3, 2), F(11, 4))
    assert ScaleRequest.parse(target_spacing=[1.0, 1.0, 1.0]).resolve(g, 3, 0, "t2").xyz == (1, 1, F(11, 2))
    with pytest.raises(TargetSpacingError, match="t2: --target_spacing gives 2 values but the scan is 3D"):
        ScaleRequest.parse(target_spacing=[1.0, 1.0]).resolve(g, 3, 0, "t2")
    with pytest.raises(TargetSpacingError, match="not finer than the scan's 0.75 x 0.75 x 5.5 mm on any axis"):
        ScaleRequest.parse(target_spacing=[1.0, 1.0, 6.0]).resolve(g, 3, 0, "t2")
    with pytest.raises(ScaleError, match="t2: -s gives 2 factors .* but the scan is 3D"):
        ScaleRequest.parse(["1", "4"]).resolve(g, 3, 0, "t2")


def test_record_keeps_the_single_scale_form():
    assert ScaleRequest.parse("2.5").record() == {"scale": "5/2"}
    assert ScaleRequest.parse(["1", "1", "5.5"]).record() == {"scale": "1 1 11/2"}
    assert ScaleRequest.parse(target_spacing=[0.3]).record() == {"target_spacing": 0.3}


# ------------------------------------------------------------------ passes
def test_passes():
    thick = plan_passes(VolumeScale.from_xyz((1, 1, 4)), 0)
    assert [[p.slicing_axis for p in stage] for stage in thick] == [[1, 2]]
    assert thick[0][0].slice_scale == (4, 1) and thick[0][1].slice_scale == (4, 1)
    assert [[p.slicing_axis for p in s] for s in plan_passes(VolumeScale.from_xyz((4, 1, 1)), 0)] == [[0, 1]]
    in_plane = plan_passes(VolumeScale.in_plane(2.5, 3, 0), 0)
    assert len(in_plane) == 1 and in_plane[0][0].slicing_axis == 0 and in_plane[0][0].slice_scale == F(5, 2)
    both = plan_passes(VolumeScale.from_xyz((2, 2, 3)), 0, array_spacing=(3.0, 1.0, 1.0))
    assert [[p.slicing_axis for p in s] for s in both] == [[0], [1, 2]]
    assert both[0][0].scale.xyz == (2, 2, 1) and both[1][0].scale.xyz == (1, 1, 3)
    # the thick axis is the coarsest, wherever it is
    assert plan_passes(VolumeScale.from_xyz((3, 2, 2)), 0, array_spacing=(1.0, 1.0, 4.0))[0][0].slicing_axis == 2
    assert plan_passes(VolumeScale.from_xyz((1, 2.5)), None)[0][0].slice_scale == (F(5, 2), 1)


# ------------------------------------------------------------------ geometry on every axis
@pytest.mark.parametrize("axis", [0, 1, 2], ids=["x", "y", "z"])
@pytest.mark.parametrize("direction", [LPS, RAS, oblique_direction(25.0)], ids=["LPS", "RAS", "oblique"])
def test_one_thick_axis_geometry(predictor, axis, direction):
    shape = (6, 20, 22)  # z, y, x
    spacing = [0.8, 0.9, 1.0]
    spacing[axis] = 3.0
    geom = Geometry(tuple(spacing), (12.0, -40.0, 7.5), direction)
    xyz = [1, 1, 1]
    xyz[axis] = 3
    sr, sr_geom = predictor.predict_case(phantom(shape, seed=3)[None], geom, VolumeScale.from_xyz(xyz))
    expect = list(shape)
    expect[2 - axis] *= 3
    assert sr.shape == (1, *expect)
    want = list(spacing)
    want[axis] = 1.0
    np.testing.assert_allclose(sr_geom.spacing, want, rtol=1e-12)
    assert sr_geom.direction == geom.direction
    np.testing.assert_allclose(sr_geom.fov_corners(sr.shape[1:]), geom.fov_corners(shape), atol=1e-3)


def test_in_plane_and_through_plane_compose(predictor):
    shape = (5, 16, 18)
    geom = Geometry((0.9, 0.9, 4.0), (1.0, 2.0, 3.0), oblique_direction(-30.0))
    sr, sr_geom = predictor.predict_case(phantom(shape, seed=4)[None], geom, VolumeScale.from_xyz((2, 2, 4)))
    assert sr.shape == (1, 20, 32, 36)
    np.testing.assert_allclose(sr_geom.spacing, (0.45, 0.45, 1.0), rtol=1e-12)
    np.testing.assert_allclose(sr_geom.fov_corners(sr.shape[1:]), geom.fov_corners(shape), atol=1e-3)


def test_2d_image_one_axis(predictor):
    geom = Geometry((0.5, 2.0), (1.0, 2.0), (0.0, -1.0, 1.0, 0.0))
    img = phantom((1, 12, 26), seed=4)[0]
    sr, sr_geom = predictor.predict_case(img[None], geom, VolumeScale.from_xyz((1, 2.5)))
    assert sr.shape == (1, 30, 26)
    np.testing.assert_allclose(sr_geom.spacing, (0.5, 0.8))
    np.testing.assert_allclose(sr_geom.fov_corners(sr.shape[1:]), geom.fov_corners(img.shape), atol=1e-3)


def test_landmark_stays_put_through_plane(predictor):
    """A sphere's centre in mm moves less than 0.1 thin slice when 3 mm slices become 1 mm."""
    shape, spacing = (12, 30, 32), (3.0, 1.0, 1.0)
    vol = sphere_volume(shape, (5.4, 13.3, 15.6), 5.0, spacing)
    geom = Geometry(tuple(reversed(spacing)), (-20.0, 15.0, 3.0), oblique_direction(15.0))
    sr, sr_geom = predictor.predict_case(vol[None], geom, VolumeScale.from_xyz((1, 1, 3)))
    moved = np.linalg.norm(centroid_mm(sr[0], sr_geom, 200.0) - centroid_mm(vol, geom, 200.0))
    assert moved < 0.1


def test_through_plane_is_the_mean_of_both_orientations(predictor):
    """The fused output is the mean of the two orientations, each run on its own (checked on the slices'
    own network outputs, tiled or not)."""
    case = phantom((6, 24, 26), seed=8)[None]
    geom = Geometry((1.0, 1.0, 3.0), (0, 0, 0), LPS)
    vs = VolumeScale.from_xyz((1, 1, 3))
    fused, _ = predictor.predict_case(case, geom, vs)
    singles = []
    for stage in plan_passes(vs, 0):
        for p in stage:
            one, _, _ = predictor.run_stages(case, geom, [(p,)])
            singles.append(one)
    np.testing.assert_allclose(fused, (singles[0] + singles[1]) / 2, rtol=1e-5, atol=1e-3)
    assert not np.allclose(singles[0], singles[1], atol=1e-2)  # two different views of the thick axis
    tiled = Predictor.from_model_folder(predictor.model_identity["folder"], device="cpu", progress=False,
                                        memory_budget=120_000)
    np.testing.assert_allclose(tiled.predict_case(case, geom, vs)[0], fused, rtol=1e-4, atol=1e-2)


# ------------------------------------------------------------------ what the model can do
def test_model_limits(tmp_path, predictor):
    case, geom = phantom((4, 16, 16), seed=1)[None], Geometry((1.0, 1.0, 5.0), (0, 0, 0), LPS)
    with pytest.raises(ScaleError, match=r"factor 7 on one axis .* above 6, .*--allow_extrapolation"):
        predictor.predict_case(case, geom, VolumeScale.from_xyz((1, 1, 7)))
    with pytest.raises(ScaleError, match=r"scale 5 is above 4"):
        predictor.predict_case(case, geom, VolumeScale.from_xyz((5, 5, 1)))
    paper = Predictor.from_model_folder(make_model_folder(tmp_path / "paper"), device="cpu", progress=False)
    with pytest.raises(ScaleError, match="by different factors, which this model cannot"):
        paper.predict_case(case, geom, VolumeScale.from_xyz((2, 3, 1)))
    in_plane_only = Predictor.from_model_folder(make_model_folder(tmp_path / "ip", net=PER_AXIS_NET), device="cpu",
                                                progress=False)
    with pytest.raises(ScaleError, match="refines one axis alone, which this model was not trained for"):
        in_plane_only.predict_case(case, geom, VolumeScale.from_xyz((1, 1, 2)))
    assert paper.predict_case(case, geom, 2)[0].shape == (1, 4, 32, 32)  # the paper's in-plane use still runs


# ------------------------------------------------------------------ the command
def test_cli_thick_slices_nifti_and_dicom(folder, tmp_path):
    vol = (phantom((6, 20, 22), seed=9) * 800).astype(np.int16)
    geom = Geometry((0.8, 0.8, 4.0), (-50.0, -60.0, 10.0), LPS)
    write_image(vol, geom, tmp_path / "in" / "t2_0000.nii.gz")
    write_dicom_series(tmp_path / "dcm", vol, spacing_xyz=(0.8, 0.8, 4.0), origin=(-50.0, -60.0, 10.0), modality="MR")
    for src, name in ((tmp_path / "in", "t2_0000.nii.gz"), (tmp_path / "dcm", "dcm_0000.nii.gz")):
        out = tmp_path / f"out_{src.name}"
        assert predict_main(["-i", str(src), "-o", str(out), "-s", "1", "1", "4", "-m", str(folder),
                             "--disable_progress_bar", "--preview"]) == 0
        png = next(out.glob("*.preview.png"))
        assert png.stat().st_size > 5000 and png.read_bytes()[:4] == b"\x89PNG"
        arr, g = read_image(out / name)
        assert arr.shape == (24, 20, 22)
        np.testing.assert_allclose(g.spacing, (0.8, 0.8, 1.0), rtol=1e-6)
        np.testing.assert_allclose(g.fov_corners(arr.shape), geom.fov_corners(vol.shape), atol=1e-3)
    assert predict_main(["-i", str(tmp_path / "in"), "-o", str(tmp_path / "ts"), "--target_spacing", "0.8", "0.8",
                         "1", "-m", str(folder), "--disable_progress_bar"]) == 0
    np.testing.assert_array_equal(read_image(tmp_path / "ts" / "t2_0000.nii.gz")[0],
                                  read_image(tmp_path / "out_in" / "t2_0000.nii.gz")[0])


@pytest.mark.parametrize("args,message", [
    (["-s", "1", "2", "3", "4"], "-s takes one scale .* not 4"),
    (["-s", "1", "0.5", "2"], "the y factor 0.5 is below 1"),
    (["-s", "1", "1", "9"], "factor 9 on one axis .* above 6"),
    (["-s", "1", "2"], "-s gives 2 factors .* but the scan is 3D"),
    (["--target_spacing", "0.8", "0.8", "0.5"], "factor 8 on one axis .* above 6"),
    (["--target_spacing", "0.4", "0.4"], "--target_spacing gives 2 values but the scan is 3D"),
])
def test_cli_refusals_write_nothing(folder, tmp_path, capsys, args, message):
    write_image(phantom((4, 12, 12), seed=1).astype(np.float32), Geometry((0.8, 0.8, 4.0), (0, 0, 0), LPS),
                tmp_path / "in" / "a_0000.nii.gz")
    out = tmp_path / "out"
    assert predict_main(["-i", str(tmp_path / "in"), "-o", str(out), "-m", str(folder), *args]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert re.search(message, err[-1]) and "error" in err[-1].lower(), err  # the error: one line, after the log
    assert not out.exists()


def test_math_pi_factor_runs(predictor):
    case, geom = phantom((3, 10, 12), seed=2)[None], Geometry((1.0, 1.0, 4.0), (0, 0, 0), LPS)
    sr, sr_geom = predictor.predict_case(case, geom, VolumeScale.from_xyz((1, 1, math.pi)))
    assert sr.shape == (1, 9, 10, 12)  # ⌊3π⌋
    np.testing.assert_allclose(sr_geom.spacing[2], 4.0 / math.pi)


def test_a_bad_through_plane_scan_among_many_stops_the_run_before_any_output(folder, tmp_path, capsys):
    """The inputs are checked before anything is written, through-plane factors included: the last scan would
    exceed NIfTI's 32767 slices at this factor, so the two before it are not written either."""
    geom = Geometry((0.8, 0.8, 4.0), (0, 0, 0), LPS)
    for name, n in (("a", 4), ("b", 4), ("c", 12)):  # ×3000: 12000, 12000 and 36000 slices
        write_image(phantom((n, 12, 12), seed=1).astype(np.float32), geom, tmp_path / "in" / f"{name}_0000.nii.gz")
    out = tmp_path / "out"
    assert predict_main(["-i", str(tmp_path / "in"), "-o", str(out), "-s", "1", "1", "3000", "-m", str(folder),
                         "--allow_extrapolation", "--disable_progress_bar"]) != 0
    assert "c_0000.nii.gz: factors 1 1 3000 (x y z) would give a 12 x 12 x 36000 image" in capsys.readouterr().err
    assert not out.exists()
