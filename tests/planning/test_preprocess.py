"""Preprocessed cases: layout, idempotence, interrupted runs, parallel runs, paired LR scans."""
from __future__ import annotations

import json

import numpy as np
import pytest

from autosr.dataset import RawDataset
from autosr.errors import DatasetError
from autosr.imageio import Geometry, read_image, write_image
from autosr.normalization import denormalize
from autosr.plans import Plans
from autosr.preprocessing.api import load_case, load_lowres, plan_and_preprocess
from autosr.preprocessing.preprocess import preprocess_dataset
from tests.planning.common import pre_folder
from tests.synthetic import make_raw_dataset


def _dataset(raw, **kw):
    kw.setdefault("shape", (6, 40, 48))
    return make_raw_dataset(raw, **kw).name


def _mtimes(folder):
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.iterdir())}


def test_layout_and_properties_match_the_raw_case(autosr_folders):
    name = _dataset(autosr_folders["raw"])
    plan_and_preprocess(name)
    folder = pre_folder(name)
    assert {p.name for p in folder.iterdir()} >= {"dataset.json", "dataset_fingerprint.json", "autosrPlans.json",
                                                 "splits_final.json", "autosrPlans_2d"}
    arr, props = load_case(folder, "autosrPlans_2d", "case001")
    raw, geom = read_image(autosr_folders["raw"] / name / "imagesTr" / "case001_0000.nii.gz")
    assert isinstance(arr, np.memmap) and arr.dtype == np.float32 and list(arr.shape) == props["stored_shape"]
    assert props["original_shape"] == list(raw.shape) and Geometry.from_dict(props["geometry"]).is_close(geom)
    box = props["crop_box"]
    region = raw[tuple(slice(a, b) for a, b in box)]
    p = props["normalization"][0]
    inside = (region >= p["lower"]) & (region <= p["upper"])
    back = denormalize(np.asarray(arr[0]), p)                   # slicing axis 0 is already first
    np.testing.assert_allclose(back[inside], region[inside], atol=1e-4 * (p["upper"] - p["lower"]))
    outside = np.ones(raw.shape, bool)
    outside[tuple(slice(a, b) for a, b in box)] = False
    assert (raw[outside] == 0).all()                              # only background was cropped away


def test_rerun_is_idempotent_and_an_interrupted_case_is_redone(autosr_folders):
    name = _dataset(autosr_folders["raw"], n_cases=3)
    plan_and_preprocess(name)
    data = pre_folder(name) / "autosrPlans_2d"
    before = _mtimes(data)
    plans = Plans.load(pre_folder(name) / "autosrPlans.json")
    raw = RawDataset.open(autosr_folders["raw"] / name)
    assert preprocess_dataset(raw, plans, pre_folder(name), ["autosrPlans_2d"]) == {"autosrPlans_2d": []}
    assert _mtimes(data) == before
    # a crash after the array but before the JSON: a half-written array and a leftover temporary file
    (data / "case001.json").unlink()
    (data / "case001.npy").write_bytes(b"\x93NUMPY garbage")
    (data / ".case002.npy.x.partial").write_bytes(b"junk")
    (data / "case002.npy").write_bytes((data / "case002.npy").read_bytes()[:100])     # truncated, JSON kept
    done = preprocess_dataset(raw, plans, pre_folder(name), ["autosrPlans_2d"])["autosrPlans_2d"]
    assert sorted(done) == ["case001", "case002"]
    assert not list(data.glob(".*.partial"))
    assert load_case(pre_folder(name), "autosrPlans_2d", "case002")[0].shape[0] == 1


def test_a_changed_plan_redoes_every_case(autosr_folders):
    name = _dataset(autosr_folders["raw"], n_cases=2)
    plan_and_preprocess(name)
    path = pre_folder(name) / "autosrPlans.json"
    plans = json.loads(path.read_text(encoding="utf-8"))
    plans["crop"]["margin"] = [0, 2, 2]
    path.write_text(json.dumps(plans), encoding="utf-8")
    raw = RawDataset.open(autosr_folders["raw"] / name)
    done = preprocess_dataset(raw, Plans.load(path), pre_folder(name), ["autosrPlans_2d"])
    assert sorted(done["autosrPlans_2d"]) == ["case000", "case001"]


def test_two_processes_give_the_same_result(autosr_folders, tmp_path):
    name = _dataset(autosr_folders["raw"], n_cases=3)
    plan_and_preprocess(name, num_processes=1)
    one = {c: np.load(pre_folder(name) / "autosrPlans_2d" / f"{c}.npy") for c in ("case000", "case001", "case002")}
    other = tmp_path / "pre2"
    plan_and_preprocess(name, num_processes=2, preprocessed_folder=other)
    for c, arr in one.items():
        assert np.array_equal(arr, np.load(other / name / "autosrPlans_2d" / f"{c}.npy"))
    fp1 = json.loads((pre_folder(name) / "dataset_fingerprint.json").read_text(encoding="utf-8"))
    fp2 = json.loads((other / name / "dataset_fingerprint.json").read_text(encoding="utf-8"))
    assert fp1["intensity"] == fp2["intensity"]


def _write_lowres(folder, factor=2, slices_differ=False):
    (folder / "lowresTr").mkdir()
    for f in sorted((folder / "imagesTr").iterdir()):
        hr, g = read_image(f)
        z, y, x = hr.shape
        lr = hr[:, : y // factor * factor, : x // factor * factor].reshape(z, y // factor, factor, x // factor, factor)
        lr = lr.mean((2, 4)).astype(np.float32)
        sp = (g.spacing[0] * factor, g.spacing[1] * factor, g.spacing[2] * (2 if slices_differ else 1))
        # same field-of-view edge: origin moves by half the spacing difference
        origin = (g.origin[0] + (sp[0] - g.spacing[0]) / 2, g.origin[1] + (sp[1] - g.spacing[1]) / 2, g.origin[2])
        write_image(lr, Geometry(sp, origin, g.direction), folder / "lowresTr" / f.name)


def test_paired_lowres_is_cropped_to_the_same_region(autosr_folders):
    folder = make_raw_dataset(autosr_folders["raw"], dataset_id=3, name="Paired", shape=(5, 40, 48))
    _write_lowres(folder)
    plans = plan_and_preprocess(folder.name)
    assert plans.configuration("2d").degradation.mode == "paired"
    hr, props = load_case(pre_folder(folder.name), "autosrPlans_2d", "case000")
    lr = load_lowres(pre_folder(folder.name), "autosrPlans_2d", "case000")
    low = props["lowres"]
    assert low["scale"] == [2.0, 2.0] and low["hr_offset"] == [0.0, 0.0] and low["scale_fraction"] == ["2", "2"]
    assert lr.shape[:2] == hr.shape[:2] and list(lr.shape) == low["stored_shape"]
    hb, lb = props["crop_box"], low["crop_box"]
    for k in (1, 2):
        assert hb[k][0] == 2 * lb[k][0]                          # first edges coincide
    # the LR crop is the block average of the HR crop, normalised alike
    hr_a = np.asarray(hr[0, :, : 2 * lr.shape[2], : 2 * lr.shape[3]])
    pooled = hr_a.reshape(hr_a.shape[0], lr.shape[2], 2, lr.shape[3], 2).mean((2, 4))
    assert np.abs(pooled - np.asarray(lr[0])).max() < 0.05


def test_paired_scans_must_share_the_slices(autosr_folders):
    folder = make_raw_dataset(autosr_folders["raw"], dataset_id=4, name="BadPair", shape=(5, 40, 48))
    _write_lowres(folder, slices_differ=True)
    with pytest.raises(DatasetError, match="share the slices"):
        plan_and_preprocess(folder.name)
    assert not list((pre_folder(folder.name) / "autosrPlans_2d").glob("*.json"))
