"""Model-folder resolution, input discovery and argument errors (no network run)."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from autosr.imageio import Geometry, write_image
from autosr.inference.inputs import PredictionInputError, check_output_location, find_cases, select_part
from autosr.inference.model_folder import ModelNotFoundError, open_model_folder, resolve_model_folder
from autosr.inference.predictor import ScaleError, parse_scale
from autosr.inference.scale_request import ScaleRequest, TargetSpacingError
from autosr.scales import VolumeScale
from tests.inference.helpers import make_model_folder

GEOM = Geometry((1.0, 1.0, 3.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))


def _img(path, shape=(3, 8, 8)):
    write_image(np.zeros(shape, np.int16), GEOM, path)


def test_resolve_model_folder(autosr_folders):
    res = autosr_folders["results"]
    make_model_folder(res, configuration="2d_cpu")
    assert resolve_model_folder(1).name == "MetaSRTrainer__autosrPlans__2d_cpu"
    make_model_folder(res, configuration="2d")
    assert resolve_model_folder("Synth").name.endswith("__2d")
    assert resolve_model_folder(1, configuration="2d_cpu").name.endswith("__2d_cpu")
    with pytest.raises(ModelNotFoundError, match="MetaSRTrainer__autosrPlans__2d_cpu"):
        resolve_model_folder(1, configuration="3d")
    with pytest.raises(ModelNotFoundError, match="Dataset001_Synth"):
        resolve_model_folder(7)


def test_open_model_folder_folds(tmp_path):
    folder = make_model_folder(tmp_path, folds=(0, 2))
    assert list(open_model_folder(folder).checkpoints) == ["0", "2"]
    with pytest.raises(ModelNotFoundError, match="-f 1: fold_1 does not exist in .*; folds: 0, 2"):
        open_model_folder(folder, folds=[1])
    with pytest.raises(ModelNotFoundError, match="checkpoint_best.pth: checkpoint not found; fold_0 holds checkpoint_final.pth"):
        open_model_folder(folder, folds=[0], checkpoint="checkpoint_best.pth")
    with pytest.raises(ModelNotFoundError, match="not a model folder"):
        open_model_folder(tmp_path)


@pytest.mark.parametrize("bad,msg", [("abc", "not a number"), ("1", "greater than 1"), ("0.5", "greater than 1"),
                                     ("nan", "not a finite number"), ("4.5", "--allow_extrapolation")])
def test_scale_errors(bad, msg):
    with pytest.raises(ScaleError, match=msg):
        parse_scale(bad, 4.0)


def test_extrapolation_allowed_with_warning(caplog):
    assert parse_scale("4.5", 4.0, allow_extrapolation=True) == Fraction(9, 2)
    assert "above the trained range" in caplog.text


def test_scale_for_spacing():
    def resolve(geom, mm):
        return ScaleRequest.parse(target_spacing=mm).resolve(geom, 3, 0, "t2.nii.gz")

    g = Geometry((0.75, 0.75, 5.5), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    assert resolve(g, 0.3) == VolumeScale((Fraction(1), Fraction(5, 2), Fraction(5, 2)))
    s = resolve(Geometry((0.9766, 0.9766, 2.0), (0, 0, 0), g.direction), 0.5).factors[2]
    assert abs(0.9766 / float(s) - 0.5) <= 0.5e-4 and s.denominator <= 1000
    with pytest.raises(TargetSpacingError, match="t2.nii.gz: .*not finer than the scan's in-plane spacing 0.75 mm"):
        resolve(g, 1.0)
    with pytest.raises(TargetSpacingError, match="in-plane spacings differ .*s = 1.6 and 2"):
        resolve(Geometry((1.0, 0.8, 3.0), (0, 0, 0), g.direction), 0.5)


def test_find_cases_grouping_and_errors(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    for c in (0, 1):
        _img(inp / f"b_{c:04d}.nii.gz")
        _img(inp / f"a_{c:04d}.nrrd")
    cases = find_cases(inp, 2, ["T1", "T2"])
    assert [c.name for c in cases] == ["a", "b"] and cases[0].ending == ".nrrd"
    assert [p.name for p in cases[1].output_files(tmp_path)] == ["b_0000.nii.gz", "b_0001.nii.gz"]
    (inp / "b_0001.nii.gz").unlink()
    with pytest.raises(PredictionInputError, match=r"case 'b' misses channel file\(s\) b_0001.nii.gz"):
        find_cases(inp, 2, ["T1", "T2"])
    with pytest.raises(PredictionInputError, match="has channel 1 but the model was trained on 1 channel"):
        find_cases(inp, 1, ["T1"])
    _img(inp / "b_0001.nii.gz")
    (inp / "notes.txt").write_text("hello", encoding="utf-8")
    assert [c.name for c in find_cases(inp, 2, ["T1", "T2"])] == ["a", "b"]  # skipped, with a log line


def test_loose_files_and_single_file(tmp_path):
    _img(tmp_path / "t2.nii.gz")
    assert find_cases(tmp_path / "t2.nii.gz", 1)[0].name == "t2"
    with pytest.raises(PredictionInputError, match="needs 2 channels"):
        find_cases(tmp_path / "t2.nii.gz", 2)
    (tmp_path / "x.txt").write_text("x", encoding="utf-8")
    with pytest.raises(PredictionInputError, match="not an image file"):
        find_cases(tmp_path / "x.txt", 1)
    with pytest.raises(PredictionInputError, match="does not exist"):
        find_cases(tmp_path / "nope", 1)


def test_output_inside_input_and_parts(tmp_path):
    with pytest.raises(PredictionInputError, match="inside the input folder"):
        check_output_location(tmp_path, tmp_path / "out")
    with pytest.raises(PredictionInputError, match="is the input"):
        check_output_location(tmp_path, tmp_path)
    check_output_location(tmp_path / "in", tmp_path / "out")
    for i in range(5):
        _img(tmp_path / f"c{i}_0000.nii.gz")
    cases = find_cases(tmp_path, 1)
    parts = [select_part(cases, 2, k) for k in range(2)]
    assert sorted(c.name for p in parts for c in p) == [f"c{i}" for i in range(5)]
    assert not {c.name for c in parts[0]} & {c.name for c in parts[1]}
    with pytest.raises(PredictionInputError, match="part_id"):
        select_part(cases, 2, 2)


def test_device_choice():
    import torch
    from autosr.errors import AutoSRError
    from autosr.inference.predictor import pick_device
    assert pick_device("cpu").type == "cpu" and pick_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(AutoSRError, match="use auto, cpu"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(AutoSRError, match="CUDA is not available"):
            pick_device("cuda")
