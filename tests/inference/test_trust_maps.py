"""``--save_uncertainty``, ``--tta`` and ``--enforce_consistency``: geometry, what the maps show, the consistency promise."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from autosr.commands.predict import main as predict_main
from autosr.degradation import degrade
from autosr.degradation.consistency import acquire, project
from autosr.degradation.acquisition import NAMED, synthesize
from autosr.inference.ensemble import SYMMETRIES, transformed
from autosr.inference.predictor import Predictor
from autosr.networks.meta_sr import MetaSRGenerator
from autosr.plans import Plans
from tests.inference.helpers import PER_AXIS_NET, PER_AXIS_SCALES, make_model_folder
from tests.synthetic import oblique_direction, phantom

SPACING = (0.9, 0.8, 3.0)
ORIGIN = (5.0, -3.0, 2.0)


def _write(arr: np.ndarray, path: Path) -> Path:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(SPACING)
    img.SetOrigin(ORIGIN)
    img.SetDirection(oblique_direction())
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(path))
    return path


def _predict(inp: Path, out: Path, model: Path, scale: Sequence[str], *flags: str) -> None:
    assert predict_main(["-i", str(inp), "-o", str(out), "-s", *scale, "-m", str(model), "--device", "cpu",
                         "--disable_progress_bar", *flags]) == 0


def _geometry(img: sitk.Image):
    return img.GetSize(), img.GetSpacing(), img.GetOrigin(), img.GetDirection()


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Path:
    return _write(phantom((10, 28, 30)).astype(np.float32), tmp_path_factory.mktemp("in") / "c_0000.nii.gz")


@pytest.mark.parametrize("scale", [["2.5"], ["1", "1", "3"]])
def test_uncertainty_and_tta_outputs_have_the_outputs_geometry(tmp_path, case, scale):
    model = make_model_folder(tmp_path / "res", folds=(0, 1), net=PER_AXIS_NET, scales=PER_AXIS_SCALES)
    _predict(case.parent, tmp_path / "plain", model, scale)
    _predict(case.parent, tmp_path / "unc", model, scale, "--save_uncertainty")
    _predict(case.parent, tmp_path / "tta", model, scale, "--tta", "--save_uncertainty")
    plain = sitk.ReadImage(str(tmp_path / "plain" / "c_0000.nii.gz"))
    for run in ("unc", "tta"):
        out = sitk.ReadImage(str(tmp_path / run / "c_0000.nii.gz"))
        unc = sitk.ReadImage(str(tmp_path / run / "c_uncertainty_0000.nii.gz"))
        assert _geometry(out) == _geometry(plain) == _geometry(unc)
        std = sitk.GetArrayFromImage(unc)
        assert std.min() >= 0 and std.max() > 0
        record = json.loads((tmp_path / run / "c.autosr.json").read_text())
        assert record["request"]["uncertainty"] is True
        assert [o[0] for o in record["outputs"]] == ["c_0000.nii.gz", "c_uncertainty_0000.nii.gz"]
    # the uncertainty map does not change the output; --tta does (the mean over 16 members)
    assert np.array_equal(sitk.GetArrayFromImage(plain), sitk.GetArrayFromImage(
        sitk.ReadImage(str(tmp_path / "unc" / "c_0000.nii.gz"))))
    assert not np.array_equal(sitk.GetArrayFromImage(plain), sitk.GetArrayFromImage(
        sitk.ReadImage(str(tmp_path / "tta" / "c_0000.nii.gz"))))


@pytest.mark.parametrize("scale", [Fraction(5, 2), (Fraction(7, 3), Fraction(3, 2)), (Fraction(3), Fraction(1))])
def test_every_symmetry_maps_back_onto_the_refined_grid(scale):
    """Bicubic interpolation commutes with flips and transposition, so each symmetry of it must give the plain
    output exactly when the padding/cropping and the swapped factors are right (odd sizes: h·s is not whole)."""
    from autosr.inference.predictor import BicubicUpsampler

    net = BicubicUpsampler(1)
    x = torch.rand(2, 1, 13, 11, dtype=torch.float64)
    plain = net(x, scale)
    for sym in SYMMETRIES[1:]:
        y = transformed(lambda v, s: net(v, s), x, scale, sym)
        assert y.shape == plain.shape
        # away from the last rows/columns, whose neighbours the padding replaced
        assert torch.allclose(y[..., :-6, :-6], plain[..., :-6, :-6], atol=1e-9), sym


def _train_fold(seed: int, steps: int = 120) -> MetaSRGenerator:
    """A tiny MetaSR trained at ×2 on smooth phantom slices (no bright squares), normalised as by the plan."""
    torch.manual_seed(seed)
    net = MetaSRGenerator(in_channels=1, **{k: v for k, v in PER_AXIS_NET.items() if k != "name"})
    data = [phantom((8, 48, 48), seed=k).astype(np.float32) for k in range(4)]
    slices = torch.from_numpy(np.concatenate([np.clip(d / np.percentile(d[d > 0], 99.5), 0, 1) for d in data]))[:, None]
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(slices), (8,), generator=g)
        hr = slices[idx][..., 8:40, 8:40]
        lr = degrade(hr, 2, sigma=0.8, kernel_size=3)
        loss = (net(lr, Fraction(2)) - hr).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def test_uncertainty_is_highest_where_the_input_holds_what_training_never_saw(tmp_path):
    model = make_model_folder(tmp_path / "res", folds=(0, 1), net=PER_AXIS_NET, scales=PER_AXIS_SCALES)
    for fold in (0, 1):
        path = model / f"fold_{fold}" / "checkpoint_final.pth"
        ckpt = torch.load(path, weights_only=True)
        ckpt["generator"] = _train_fold(fold).state_dict()
        torch.save(ckpt, path)
    vol = phantom((6, 48, 48), seed=11).astype(np.float32)
    rng = np.random.default_rng(0)
    square = (slice(None), slice(18, 28), slice(18, 28))
    vol[square] = vol.max() * rng.uniform(0.6, 1.6, vol[square].shape)  # a bright, speckled square
    _predict(_write(vol, tmp_path / "in" / "c_0000.nii.gz").parent, tmp_path / "out", model, ["2"], "--save_uncertainty")
    std = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out" / "c_uncertainty_0000.nii.gz")))
    inside = np.zeros(std.shape, bool)
    inside[:, 36:56, 36:56] = True
    foreground = np.repeat(np.repeat(vol > 0.05 * vol.max(), 2, axis=1), 2, axis=2)
    rest = foreground & ~inside
    ratio = std[inside].mean() / std[rest].mean()
    assert ratio > 2.0, f"uncertainty in the corrupted square is only {ratio:.2f}x the rest of the foreground's"


def test_enforce_consistency_makes_the_written_output_explain_its_input(tmp_path, case):
    model = make_model_folder(tmp_path / "res", folds=(0,), net=PER_AXIS_NET, scales=PER_AXIS_SCALES)
    _predict(case.parent, tmp_path / "free", model, ["2.5"])
    _predict(case.parent, tmp_path / "proj", model, ["2.5"], "--enforce_consistency")
    free = json.loads((tmp_path / "free" / "c.autosr.json").read_text())["checks"]["consistency"]
    proj = json.loads((tmp_path / "proj" / "c.autosr.json").read_text())["checks"]["consistency"]
    assert free["operator"] == proj["operator"] == "planned" and proj["enforced"] and not free["enforced"]
    assert free["operator_error"] > 1e-2 and proj["operator_error"] <= 1e-3
    # independently of the record: the written file, normalised like its input and acquired again, is the input
    predictor = Predictor.from_model_folder(model, device="cpu", progress=False)
    arr = sitk.GetArrayFromImage(sitk.ReadImage(str(case)))[None]
    prep = predictor.prepare(arr, Fraction(5, 2))
    out = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "proj" / "c_0000.nii.gz"))).astype(np.float64)
    lo, hi = float(prep.params[0]["lower"]), float(prep.params[0]["upper"])
    (z0, z1), (y0, y1), (x0, x1) = prep.box
    sr = (out[z0:z1, int(y0 * 2.5):int(y1 * 2.5), int(x0 * 2.5):int(x1 * 2.5)] - lo) / (hi - lo)
    lr = torch.from_numpy(prep.slices).double()
    again = acquire(torch.from_numpy(sr)[:, None], Fraction(5, 2), NAMED["paper"], clip=False)
    fg = lr > 0.1 * lr.amax()
    rel = float((again - lr)[fg].pow(2).mean().sqrt() / lr[fg].pow(2).mean().sqrt())
    assert rel <= 1e-3, rel


@pytest.mark.parametrize("name", ["paper", "antialiased", "area"])
@pytest.mark.parametrize("scale", [Fraction(2), Fraction(5, 2), (Fraction(1), Fraction(3)), (Fraction(3), Fraction(3, 2))])
def test_projection_reaches_the_tolerance_for_each_linear_acquisition(name, scale):
    torch.manual_seed(0)
    hr = torch.nn.functional.avg_pool2d(torch.rand(2, 1, 60, 54), 3, 1, 1)
    lr = acquire(hr, scale, NAMED[name])
    guess = torch.rand_like(hr)
    out, err = project(guess, lr, scale, NAMED[name])
    assert err <= 2e-4 and out.shape == hr.shape


def test_the_plan_recipe_is_the_operator_unless_an_acquisition_is_told(tmp_path):
    model = make_model_folder(tmp_path / "res", folds=(0,))
    p = Predictor.from_model_folder(model, device="cpu", progress=False)
    assert p.consistency_operator()[0] == "planned"
    assert Plans.load(model / "plans.json").configuration("2d_cpu").degradation.sigma == \
        p.consistency_operator()[1].sigma


@pytest.mark.parametrize("name", ["paper", "antialiased", "area", "kspace"])
def test_one_axis_acquisition_leaves_the_other_axis_alone(name):
    """On an image constant along the axis with factor 1, blurring that axis changes nothing, so the one-axis
    operator must equal the full acquisition there (it caught PyTorch's antialiasing on size-1 dimensions)."""
    torch.manual_seed(0)
    profile = torch.nn.functional.avg_pool1d(torch.rand(2, 1, 130), 5, 1, 2)
    along_rows = profile[..., :, None].expand(2, 1, 130, 17).contiguous()   # varies along rows only
    along_cols = profile[..., None, :].expand(2, 1, 17, 130).contiguous()   # varies along columns only
    for hr, scale in ((along_rows, (Fraction(5), Fraction(1))), (along_cols, (Fraction(1), Fraction(5)))):
        full = synthesize(hr, scale, NAMED[name])
        assert torch.allclose(acquire(hr, scale, NAMED[name]), full, atol=1e-5), (name, scale)
