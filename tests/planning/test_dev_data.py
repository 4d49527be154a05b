"""Acceptance on the development scans of ../shared/data (skipped when absent)."""
from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from autosr.cropping import channel_background, crop_box, foreground_mask
from autosr.imageio import read_case
from autosr.normalization import denormalize, fit_channel, normalize
from autosr.plans import Plans
from autosr.preprocessing.api import extract_fingerprint, load_case, plan_experiment, preprocess
from autosr.scales import lr_size
from tests.conftest import SHARED_DATA
from tests.planning.common import walk_sections
from tests.planning.dev_data import CT_DATASETS, DEV_DATASETS, build_dev_datasets, dataset_ref


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    """Every dev dataset fingerprinted and planned, in a private folder (-np 2: the benchmark)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    root = tmp_path_factory.mktemp("dev")
    folders = {"raw_folder": root / "raw", "preprocessed_folder": root / "pre"}
    build_dev_datasets(SHARED_DATA, root / "raw")
    out = {}
    for name in DEV_DATASETS:
        fp = extract_fingerprint(dataset_ref(name), num_processes=1, **folders)
        out[name] = (fp, plan_experiment(dataset_ref(name), **folders))
    return out, folders


@functools.lru_cache(maxsize=None)
def _case(files: tuple, modalities: tuple):
    """A dev case, read once per test session, with its foreground."""
    data, geom = read_case(list(files))
    return data, geom, foreground_mask(data, list(modalities), geom.array_spacing)


def _cases(fp, plans):
    for case, info in fp["cases"].items():
        data, geom, fg = _case(tuple(info["files"]), tuple(plans.modalities))
        yield case, info, data, geom, fg


def test_dev_plans(dev, shared_data):
    plans = {n: p for n, (_, p) in dev[0].items()}
    fps = {n: fp for n, (fp, _) in dev[0].items()}
    t2 = plans["TorchioT2"]
    assert fps["TorchioT2"]["spacing"]["median"] == pytest.approx([5.5, 0.75, 0.75])
    assert t2.slicing_axis == 0 and "coarser" in t2.raw["slicing"]["why"]       # orthogonal to the 5.5 mm axis
    assert plans["CardiacMR"].slicing_axis == 0 and plans["CTDicom"].slicing_axis == 0
    for name, p in plans.items():
        expect = "CT" if name in CT_DATASETS else "MR"
        assert [e["scheme"] for e in p.normalization] == [expect] * p.num_channels, name
        for where, section in walk_sections(p.raw):
            assert section.get("why"), f"{name}: {where} has no why"
        Plans.load(p.path)
    assert plans["BraTS"].num_channels == 2 and plans["BraTS"].channel_names == ["FLAIR", "T1c"]
    assert plans["BraTS"].configuration("2d").network["in_channels"] == 2
    ct = plans["TotalSegCT"].normalization[0]
    assert -1100 < ct["lower"] < -700 and 300 < ct["upper"] < 2000


def test_dev_patch_never_exceeds_the_median_cropped_slice(dev, shared_data):
    for name, (fp, plans) in dev[0].items():
        axis, margin = plans.slicing_axis, plans.crop_margin
        sizes = []
        for info in fp["cases"].values():
            shape = info["shape"]
            box = crop_box(shape, info["foreground_bbox"], margin if len(shape) == 3 else margin[1:])
            sizes.append([b - a for k, (a, b) in enumerate(box) if len(shape) == 2 or k != axis])
        med = np.median(sizes, 0)
        for conf in plans.configuration_names:
            c = plans.configuration(conf)
            assert all(p <= m for p, m in zip(c.patch.size, med)), (name, conf, c.patch.size, med)
            assert all(lr_size(min(c.patch.size), str(s)) >= c.patch.min_lr_patch for s in c.scales.values())


def test_dev_crop_never_removes_a_foreground_voxel(dev, shared_data):
    checked = 0
    for name, (fp, plans) in dev[0].items():
        for case, info, data, geom, fg in _cases(fp, plans):
            nd = data.ndim - 1
            margin = plans.crop_margin if nd == 3 else plans.crop_margin[1:]
            box = crop_box(data.shape[1:], info["foreground_bbox"], margin)
            outside = np.ones(data.shape[1:], bool)
            outside[tuple(slice(a, b) for a, b in box)] = False
            assert not (fg & outside).any(), (name, case)
            for c, modality in enumerate(plans.modalities):
                b = channel_background(data[c], modality)
                values = data[c][outside]
                if b.method == "constant":                 # the paper's test: no non-background value removed
                    assert (values == b.value).all(), (name, case, c)
                elif b.method == "air":
                    assert (values < -500).all(), (name, case, c)
                elif b.method == "noise_floor":            # nothing brighter than noise is cut away
                    top = np.percentile(data[c], 99.5)
                    assert (values <= b.value + 0.25 * (top - b.value)).all(), (name, case, c)
                checked += 1
    assert checked >= 15


def test_dev_normalisation_inverse_returns_original_intensities(dev, shared_data):
    for name, (fp, plans) in dev[0].items():
        for case, info, data, geom, fg in _cases(fp, plans):
            region = tuple(slice(a, b) for a, b in info["foreground_bbox"])    # as preprocessing: the crop box
            fg = fg[region]
            for c in range(data.shape[0]):
                x = data[c][region]
                p = fit_channel(x, fg, plans.normalization[c])
                y = normalize(x, p)
                x = x.astype(np.float64)
                assert y.dtype == np.float32 and y.min() >= 0 and y.max() <= 1
                inside = (x >= p["lower"]) & (x <= p["upper"])
                assert inside[fg].mean() > 0.9, (name, case, c)      # dark lungs in MR sit below the noise median
                back = denormalize(y, p, dtype=np.float64)
                np.testing.assert_allclose(back[inside], x[inside], rtol=0, atol=2e-6 * (p["upper"] - p["lower"]))


def test_dev_preprocessing(dev, shared_data):
    folders = dev[1]
    for name in ("TorchioT2", "Slice2DCT", "AbdomenMR"):
        pre = preprocess(dataset_ref(name), num_processes=2, **folders)
        fp = dev[0][name][0]
        splits = json.loads((pre / "splits_final.json").read_text(encoding="utf-8"))
        assert len(splits) == 5
        for case, info in fp["cases"].items():
            arr, props = load_case(pre, "autosrPlans_2d", case)
            assert arr.dtype == np.float32 and 0 <= float(arr.min()) and float(arr.max()) <= 1
            assert all(b[0] <= f[0] and f[1] <= b[1] for b, f in zip(props["crop_box"], info["foreground_bbox"]))
            if name == "TorchioT2":                  # 26 slices of 0.75 mm pixels, slicing axis first
                assert arr.shape[1] == 26 and props["transpose"] == [0, 1, 2]
