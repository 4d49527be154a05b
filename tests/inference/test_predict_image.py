"""``autosr.predict_image``: SimpleITK, nibabel and numpy images in and out, exactly as ``autosr_predict`` writes files.

The reference for every kind is the file the command writes for the same input saved as ``.nii.gz``:
its geometry (to 1e-5 mm, float32 NIfTI storage) and its voxels (exactly).
"""
from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, Tuple

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

import autosr
from autosr.commands.predict import main as autosr_predict
from autosr.errors import AutoSRError
from autosr.imageio import Geometry, write_image
from autosr.inference.images import ImageInputError
from autosr.inference.predictor import ModelMismatchError, Predictor
from tests.inference.helpers import PER_AXIS_NET, PER_AXIS_SCALES, make_model_folder
from tests.synthetic import oblique_direction, phantom

ROOT = Path(__file__).resolve().parents[2]
GEOMETRY_ATOL_MM = 1e-5
#: (input, scale as autosr_predict -s, model)
CASES = {"3d x2": ("3d", ("2",), "in_plane"), "3d x 1 1 3": ("3d", ("1", "1", "3"), "per_axis"),
         "2d x2": ("2d", ("2",), "in_plane")}
KINDS = ("SimpleITK", "nibabel", "numpy")


def _scale(s: Tuple[str, ...]):
    return float(s[0]) if len(s) == 1 else tuple(float(v) for v in s)


def _rotation_2d(deg: float) -> Tuple[float, ...]:
    a = np.deg2rad(deg)
    return (np.cos(a), -np.sin(a), np.sin(a), np.cos(a))


class Work:
    """Tiny models, Predictors loaded once, the inputs, and autosr_predict's outputs made on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.models = {"in_plane": make_model_folder(root / "in_plane"),
                       "per_axis": make_model_folder(root / "per_axis", net=PER_AXIS_NET, scales=PER_AXIS_SCALES),
                       "two_channel": make_model_folder(root / "two_channel", channels=("T1", "T2"))}
        self._predictors: Dict[str, Predictor] = {}
        self._outputs: Dict[str, sitk.Image] = {}
        self.inputs = {"3d": root / "in3d" / "scan.nii.gz", "2d": root / "in2d" / "slice.nii.gz"}
        write_image(phantom((6, 20, 24)), Geometry((0.9, 0.8, 3.0), (-12.5, 30.25, 7.75), oblique_direction()),
                    self.inputs["3d"])
        write_image(phantom((5, 22, 26), seed=3)[2], Geometry((0.9, 0.8), (-3.5, 12.25), _rotation_2d(25)),
                    self.inputs["2d"])

    def predictor(self, model: str) -> Predictor:
        if model not in self._predictors:
            self._predictors[model] = Predictor.from_model_folder(self.models[model], folds=None, device="cpu",
                                                                  progress=False)
        return self._predictors[model]

    def reference(self, case: str) -> sitk.Image:
        """The file autosr_predict writes for this case's input, read with SimpleITK."""
        if case not in self._outputs:
            dim, scale, model = CASES[case]
            out = self.root / "cli" / re.sub(r"\W+", "_", case)
            assert autosr_predict(["-i", str(self.inputs[dim]), "-o", str(out), "-s", *scale, "-m",
                                   str(self.models[model]), "--device", "cpu", "--disable_progress_bar",
                                   "-npp", "0"]) == 0
            (written,) = [p for p in out.iterdir() if p.name.endswith("_0000.nii.gz")]
            self._outputs[case] = sitk.ReadImage(str(written))
        return self._outputs[case]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Work:
    return Work(tmp_path_factory.mktemp("predict_image"))


def _as_kind(path: Path, kind: str):
    """The input file as an in-memory image of ``kind``; numpy: ``(array, geometry keywords)``."""
    if kind == "SimpleITK":
        return sitk.ReadImage(str(path)), {}
    if kind == "nibabel":
        return nib.load(str(path)), {}
    img = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(img), {"spacing": img.GetSpacing(), "origin": img.GetOrigin(),
                                         "direction": img.GetDirection()}


def _as_sitk(result, kind: str, grid: Dict, tmp_path: Path) -> sitk.Image:
    """What a result is, as SimpleITK sees it: a nibabel image saved and read back, an array placed on ``grid``."""
    if kind == "nibabel":
        path = tmp_path / "nibabel_output.nii.gz"
        result.to_filename(str(path))
        return sitk.ReadImage(str(path))
    if kind == "numpy":
        img = sitk.GetImageFromArray(result)
        img.SetSpacing(grid["spacing"])
        img.SetOrigin(grid["origin"])
        img.SetDirection(grid["direction"])
        return img
    return result


def _assert_same_geometry(a: sitk.Image, b: sitk.Image) -> None:
    assert a.GetSize() == b.GetSize()
    for get in ("GetSpacing", "GetOrigin", "GetDirection"):
        np.testing.assert_allclose(getattr(a, get)(), getattr(b, get)(), rtol=0, atol=GEOMETRY_ATOL_MM, err_msg=get)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("kind", KINDS)
def test_same_kind_geometry_and_voxels_as_autosr_predict(work, kind, case, tmp_path):
    dim, scale, model = CASES[case]
    image, geometry_kwargs = _as_kind(work.inputs[dim], kind)
    result, grid = autosr.predict_image(image, work.predictor(model), _scale(scale), return_geometry=True,
                                        **geometry_kwargs)
    expected_type = {"SimpleITK": sitk.Image, "nibabel": nib.Nifti1Image, "numpy": np.ndarray}[kind]
    assert type(result) is expected_type
    got, ref = _as_sitk(result, kind, grid, tmp_path), work.reference(case)
    _assert_same_geometry(got, ref)
    assert sitk.GetArrayFromImage(got).dtype == np.float32
    np.testing.assert_array_equal(sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(ref))
    # the returned grid is the image's own
    np.testing.assert_allclose(grid["spacing"], ref.GetSpacing(), atol=GEOMETRY_ATOL_MM)
    np.testing.assert_allclose(grid["origin"], ref.GetOrigin(), atol=GEOMETRY_ATOL_MM)


def test_nibabel_2d_axes_and_header(work):
    """A 2D NIfTI keeps its (i, j) axes; the output keeps the input's class, units and qform/sform codes."""
    src = nib.load(str(work.inputs["2d"]))
    assert src.shape == (26, 22)  # nibabel's x, y: SimpleITK's numpy (22, 26) transposed
    img = nib.Nifti2Image(np.asanyarray(src.dataobj), src.affine)
    img.header.set_xyzt_units("mm", "sec")
    out = autosr.predict_image(img, work.predictor("in_plane"), 2)
    assert isinstance(out, nib.Nifti2Image) and out.shape == (52, 44)
    assert out.header.get_xyzt_units() == ("mm", "sec")
    assert (int(out.header["qform_code"]), int(out.header["sform_code"])) == (0, 2)  # as the in-memory input's
    np.testing.assert_allclose(out.affine[:3, :2], src.affine[:3, :2] / 2, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_keep_dtype_rounds_to_the_input_type(work, kind):
    image, geometry_kwargs = _as_kind(work.inputs["3d"], kind)
    pred = work.predictor("in_plane")
    floats = autosr.predict_image(image, pred, 2, **geometry_kwargs)
    kept = autosr.predict_image(image, pred, 2, keep_dtype=True, **geometry_kwargs)
    as_array = {"SimpleITK": sitk.GetArrayFromImage, "nibabel": lambda i: np.asanyarray(i.dataobj),
                "numpy": np.asarray}[kind]
    assert as_array(kept).dtype == np.int16
    np.testing.assert_array_equal(as_array(kept), np.clip(np.rint(as_array(floats)), -32768, 32767))
    if kind == "nibabel":
        assert kept.get_data_dtype() == np.int16


def test_target_spacing_and_scale_forms_agree(work):
    image = sitk.ReadImage(str(work.inputs["3d"]))
    pred = work.predictor("in_plane")
    ref = sitk.GetArrayFromImage(autosr.predict_image(image, pred, 2))
    for kwargs in ({"scale": (2, 2, 1)}, {"scale": "2"}, {"target_spacing": (0.45, 0.4, 3.0)}):
        out = autosr.predict_image(image, pred, **kwargs)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(out), ref, err_msg=str(kwargs))


def test_model_given_as_a_folder(work):
    image = sitk.ReadImage(str(work.inputs["3d"]))
    by_path = autosr.predict_image(image, str(work.models["in_plane"]), 2, device="cpu", progress=False)
    loaded = autosr.predict_image(image, work.predictor("in_plane"), 2)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(by_path), sitk.GetArrayFromImage(loaded))


def test_model_given_as_a_zip(work, tmp_path, monkeypatch):
    """A model .zip is opened by model_package.predictor_from (extracted into a test-only cache)."""
    from autosr.inference.model_package import export_model

    monkeypatch.setenv("AUTOSR_CACHE", str(tmp_path / "cache"))
    model_zip = export_model(work.models["in_plane"], tmp_path / "tiny.zip")
    image = sitk.ReadImage(str(work.inputs["3d"]))
    by_zip = autosr.predict_image(image, str(model_zip), 2, device="cpu", progress=False)
    loaded = autosr.predict_image(image, work.predictor("in_plane"), 2)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(by_zip), sitk.GetArrayFromImage(loaded))


def test_multichannel_list_in_list_out(work):
    pred = work.predictor("two_channel")
    arr = phantom((6, 20, 24))
    t1 = sitk.GetImageFromArray(arr)
    t2 = sitk.GetImageFromArray((arr // 2).astype(np.int16))
    for img in (t1, t2):
        img.SetSpacing((0.9, 0.8, 3.0))
    out = autosr.predict_image((t1, t2), pred, 2)
    assert isinstance(out, list) and len(out) == 2 and all(isinstance(o, sitk.Image) for o in out)
    case = np.stack([arr, arr // 2])
    expected, geometry = pred.predict_case(case, Geometry((0.9, 0.8, 3.0), (0.0,) * 3, tuple(np.eye(3).ravel())), 2)
    for c in range(2):
        np.testing.assert_array_equal(sitk.GetArrayFromImage(out[c]), expected[c])
        assert out[c].GetSpacing() == pytest.approx(geometry.spacing)
    arrays = autosr.predict_image([arr, arr // 2], pred, 2, spacing=(0.9, 0.8, 3.0))
    np.testing.assert_array_equal(np.stack(arrays), expected)


# ---------------------------------------------------------------- refusals
def _sheared_nifti() -> nib.Nifti1Image:
    affine = np.array([[0.9, 0.3, 0, 10], [0, 0.8, 0, -4], [0, 0, 3.0, 2], [0, 0, 0, 1]])
    return nib.Nifti1Image(np.zeros((8, 8, 4), np.int16), affine)


def _tilted_2d_nifti() -> nib.Nifti1Image:
    a = np.deg2rad(30)
    affine = np.array([[1, 0, 0, 0], [0, np.cos(a), -np.sin(a), 0], [0, np.sin(a), np.cos(a), 0], [0, 0, 0, 1.0]])
    return nib.Nifti1Image(np.zeros((8, 8), np.int16), affine)


@pytest.mark.parametrize("model, image, kwargs, error, message", [
    ("in_plane", [np.zeros((4, 8, 8)), np.zeros((4, 8, 8))], {}, ModelMismatchError,
     r"2 image\(s\) given, but the model needs 1 channel\(s\) \(T2\): give one image"),
    ("two_channel", np.zeros((4, 8, 8)), {}, ModelMismatchError,
     r"needs 2 channel\(s\) \(T1, T2\): give a list of 2 images"),
    ("two_channel", np.zeros((2, 8, 8)), {}, ModelMismatchError, r"first axis of this \(2, 8, 8\) array is 2 "
                                                                   r"channels of a 2D image, give list\(array\)"),
    ("two_channel", np.zeros((2, 4, 8, 8)), {}, ImageInputError, r"a 4D array \(2, 4, 8, 8\); one array is one "
                                                                 r"image.*list\(array\)"),
    ("in_plane", np.zeros((8, 8, 8, 8, 2)), {}, ImageInputError, r"5D array"),
    ("in_plane", _sheared_nifti(), {}, ImageInputError, r"image: its affine is sheared .*shear-free grid"),
    ("in_plane", _tilted_2d_nifti(), {}, ImageInputError, r"2D image whose axes leave the x-y plane"),
    ("in_plane", sitk.Image(8, 8, 4, sitk.sitkInt16), {"spacing": (1, 1, 1)}, ImageInputError,
     r"spacing/origin/direction are for numpy arrays; a SimpleITK image carries its own"),
    ("in_plane", np.zeros((4, 8, 8)), {"spacing": (1, 1)}, ImageInputError, r"spacing \(1, 1\): give 3 finite"),
    ("in_plane", np.zeros((4, 8, 8)), {"direction": np.zeros(9)}, ImageInputError, r"singular"),
    ("in_plane", np.full((4, 8, 8), np.nan), {}, ImageInputError, r"NaN/Inf voxel"),
    ("in_plane", np.zeros((4, 8, 8), bool), {}, ImageInputError, r"dtype bool"),
    ("in_plane", [np.zeros((4, 8, 8)), sitk.Image(8, 8, 4, sitk.sitkInt16)], {}, ImageInputError, r"mix kinds"),
    ("two_channel", [np.zeros((4, 8, 8)), np.zeros((4, 8, 9))], {}, ImageInputError,
     r"image\[1\]: shape \(4, 8, 9\) differs from image\[0\]'s"),
    ("in_plane", [1, 2, 3], {}, ImageInputError, r"a builtins.int; give a SimpleITK.Image"),
    ("in_plane", np.zeros((4, 8, 8)), {"device": "cpu"}, ImageInputError,
     r"model is a loaded Predictor, so device cannot apply"),
    ("in_plane", np.zeros((4, 8, 8)), {"scale": 0.5}, AutoSRError, r"must be greater than 1"),
    ("in_plane", np.zeros((4, 8, 8)), {"scale": None}, AutoSRError, r"give exactly one of a scale"),
])
def test_refused_with_a_clear_message(work, model, image, kwargs, error, message):
    kwargs = {"scale": 2, **kwargs}
    with pytest.raises(error, match=message):
        autosr.predict_image(image, work.predictor(model), **kwargs)


def test_two_channels_on_different_grids_refused(work):
    a, b = sitk.Image(8, 8, 4, sitk.sitkInt16), sitk.Image(8, 8, 4, sitk.sitkInt16)
    b.SetOrigin((0.0, 0.0, 5.0))
    with pytest.raises(ImageInputError, match=r"image\[1\]: geometry .* differs from image\[0\]'s"):
        autosr.predict_image([a, b], work.predictor("two_channel"), 2)


# ---------------------------------------------------------------- the package and the documentation
def test_import_autosr_stays_light():
    code = ("import sys, autosr; assert 'torch' not in sys.modules, 'torch imported'; "
            "f = autosr.predict_image; assert f.__module__ == 'autosr.inference.images'; "
            "assert 'predict_image' in dir(autosr); print(autosr.__version__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        getattr(autosr, "nothing_here")


def test_python_api_doc_runs(work, tmp_path, monkeypatch):
    """documentation/python_api.md's python blocks run in order, with a tiny per-axis model for ``MODEL``."""
    text = (ROOT / "documentation" / "python_api.md").read_text(encoding="utf-8")
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, flags=re.S))
    line = 'MODEL = "builtin:brain_mr"'
    assert line in code, "the example's MODEL line changed: update this test"
    code = code.replace(line, f"MODEL = {str(work.models['per_axis'])!r}")
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "documentation/python_api.md", "exec"), {"__name__": "python_api_example"})
    # each print(...) line's comment is what it prints
    promised = re.findall(r"^print\(.*\)\s+#\s*(.+)$", code, flags=re.M)
    assert len(promised) >= 3
    assert printed.getvalue().splitlines() == promised


def test_an_uncertainty_predictor_returns_the_map_beside_the_output(tmp_path):
    """``uncertainty=True``: (output, map), both SimpleITK images on the refined grid."""
    import SimpleITK as sitk
    from autosr import predict_image
    from tests.inference.helpers import make_model_folder

    model = make_model_folder(tmp_path / "res", folds=(0, 1))
    img = sitk.GetImageFromArray(np.random.default_rng(0).uniform(0, 100, (4, 20, 22)).astype(np.float32))
    img.SetSpacing((0.9, 0.8, 3.0))
    out, unc = predict_image(img, str(model), 2, device="cpu", uncertainty=True)
    plain = predict_image(img, str(model), 2, device="cpu")
    assert np.array_equal(sitk.GetArrayFromImage(out), sitk.GetArrayFromImage(plain))
    assert unc.GetSize() == out.GetSize() and unc.GetSpacing() == out.GetSpacing() and unc.GetOrigin() == out.GetOrigin()
    assert sitk.GetArrayFromImage(unc).max() > 0
