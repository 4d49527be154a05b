"""The shipped built-in model: listed, loadable without training, redistributable, and better than bicubic."""
from __future__ import annotations

import json
import math
import zipfile
from fractions import Fraction

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from autosr.commands.models import list_main
from autosr.commands.predict import main as predict_main
from autosr.degradation import upsample
from autosr.degradation.acquisition import recipe, synthesize
from autosr.inference.model_package import builtin_card, list_builtin_models, predictor_from
from autosr.inference.prep import prepare_case
from autosr.slices import select_slices
from tests.synthetic import oblique_direction, phantom

NAME = "brain_mr"


def test_the_brain_mr_model_ships_with_its_card_and_a_redistributable_licence():
    models = list_builtin_models()
    assert NAME in models and models[NAME].stat().st_size < 5e6  # "a few MB" at most
    card = builtin_card(NAME).read_text(encoding="utf-8")
    for needed in ("MIT", "McConnell", "Quality on brain MR it never saw", "through-plane", "×4", "×5"):
        assert needed in card, needed
    with zipfile.ZipFile(models[NAME]) as z:
        manifest = json.loads(z.read("autosr_model.json"))
    licence = manifest["provenance"]["license"]
    assert "MIT" in licence and "NC" not in licence.replace("NC ", "")  # no non-commercial (BraTS) training data
    assert manifest["scales"]["per_axis"] and manifest["scales"]["max"] >= 4 and manifest["scales"]["single_axis_max"] >= 5


def test_list_models_prints_it(capsys):
    assert list_main([]) == 0
    assert f"builtin:{NAME}" in capsys.readouterr().out


@pytest.mark.parametrize("scale", [["2.5"], ["1", "1", "3"]])
def test_it_predicts_with_no_training(tmp_path, scale):
    img = sitk.GetImageFromArray(phantom((8, 40, 36)).astype(np.float32))
    img.SetSpacing((1.0, 1.0, 3.0))
    img.SetDirection(oblique_direction())
    (tmp_path / "in").mkdir()
    sitk.WriteImage(img, str(tmp_path / "in" / "t2.nii.gz"))
    assert predict_main(["-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-s", *scale,
                         "-m", f"builtin:{NAME}", "--device", "cpu", "--disable_progress_bar"]) == 0
    out = sitk.ReadImage(str(tmp_path / "out" / "t2_0000.nii.gz"))
    f = [float(x) for x in scale] if len(scale) == 3 else [float(scale[0])] * 2 + [1.0]
    assert out.GetSize() == tuple(math.floor(n * k) for n, k in zip(img.GetSize(), f))
    assert np.allclose(out.GetSpacing(), [s / k for s, k in zip(img.GetSpacing(), f)])


def test_it_beats_bicubic_on_a_held_out_brain(shared_data):
    """BraTS (never trained on: CC BY-NC-SA), 8 slices, LR by the plan's recipe, PSNR over the foreground."""
    predictor = predictor_from(f"builtin:{NAME}", device="cpu", progress=False)
    arr = sitk.GetArrayFromImage(sitk.ReadImage(str(shared_data / "brats2013_deepmedic/pat0006/T1c_subtrMeanDivStd.nii.gz")))
    vol = prepare_case(arr[None].astype(np.float32), predictor.plans, Fraction(1)).slices
    hr = torch.from_numpy(np.ascontiguousarray(vol[select_slices(vol.transpose(1, 0, 2, 3), 8)]))
    for s in (Fraction(2), Fraction(4)):
        lr = synthesize(hr, s, recipe(predictor.configuration.degradation))
        h, w = math.floor(lr.shape[-2] * s), math.floor(lr.shape[-1] * s)
        ref = hr[..., :h, :w].numpy()
        mask = ref > 0.01

        def psnr(out: np.ndarray) -> float:
            return -10 * math.log10(float(((np.clip(out, 0, 1) - ref)[mask] ** 2).mean()))
        model, bicubic = psnr(predictor.super_resolve(lr.numpy(), s)), psnr(upsample(lr, s).numpy())
        assert model > bicubic + 0.2, (s, model, bicubic)
