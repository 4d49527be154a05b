"""The default planner's decisions on datasets the tests build."""
from __future__ import annotations

import json
import re

import nibabel as nib
import numpy as np

from autosr.plans import Plans
from autosr.preprocessing.api import load_case, plan_and_preprocess, plan_experiment
from autosr.scales import lr_size
from tests.planning.common import lr_patch_ok, make_2d_dataset, pre_folder, walk_sections
from tests.synthetic import make_raw_dataset


def _plan(raw, **kw):
    folder = make_raw_dataset(raw, **kw)
    plans = plan_and_preprocess(folder.name, no_pp=True)
    return folder.name, plans


def test_thick_slice_axis_is_the_slicing_axis_in_any_position(autosr_folders):
    name, plans = _plan(autosr_folders["raw"], dataset_id=1, shape=(40, 44, 6), spacing_xyz=(5.5, 0.75, 0.75))
    assert plans.slicing_axis == 2                   # x is the 5.5 mm axis: numpy axis 2
    assert "coarser" in plans.raw["slicing"]["why"]
    assert plans.crop_margin[2] == 0 and plans.crop_margin[0] > 0
    plan_and_preprocess(name)
    arr, props = load_case(pre_folder(name), "autosrPlans_2d", "case000")
    box = props["crop_box"]
    assert props["transpose"] == [2, 0, 1] and props["slicing_axis"] == 2
    assert arr.shape == (1, box[2][1] - box[2][0], box[0][1] - box[0][0], box[1][1] - box[1][0])


def test_isotropic_data_follows_the_header_or_the_last_image_axis(autosr_folders):
    name, plans = _plan(autosr_folders["raw"], dataset_id=2, shape=(28, 24, 30), spacing_xyz=(1, 1, 1))
    assert plans.slicing_axis == 0 and "last image axis" in plans.raw["slicing"]["why"]
    folder = autosr_folders["raw"] / name
    for f in (folder / "imagesTr").iterdir():                 # the header says: slices along NIfTI j (numpy 1)
        img = nib.load(str(f))
        img.header.set_dim_info(slice=1)
        nib.save(nib.Nifti1Image(np.asarray(img.dataobj), img.affine, img.header), str(f))
    plans = plan_and_preprocess(name, no_pp=True, clean=True)
    assert plans.slicing_axis == 1 and "header" in plans.raw["slicing"]["why"]


def test_every_field_is_present_with_its_why(autosr_folders):
    _, plans = _plan(autosr_folders["raw"], dataset_id=3)
    for where, section in walk_sections(plans.raw):
        assert section.get("why"), f"{where} has no why"
    assert set(plans.configuration_names) == {"2d", "2d_cpu", "2d_paper"}
    assert len({plans.configuration(n).data_identifier for n in plans.configuration_names}) == 1
    Plans.load(plans.path)                                    # the file on disk is valid


def test_patch_scales_and_batch_rules(autosr_folders):
    for i, (shape, expect_reduced) in enumerate([((6, 40, 40), True), ((6, 120, 130), False)]):
        name, plans = _plan(autosr_folders["raw"], dataset_id=10 + i, name=f"S{i}", shape=shape)
        fp = json.loads((pre_folder(name) / "dataset_fingerprint.json").read_text(encoding="utf-8"))
        med = np.median([[b[1][1] - b[1][0] + 8, b[2][1] - b[2][0] + 8] for b in
                         (c["foreground_bbox"] for c in fp["cases"].values())], 0)
        for conf_name in plans.configuration_names:
            c = plans.configuration(conf_name)
            p = min(c.patch.size)
            assert all(s <= min(m, n) for s, m, n in zip(c.patch.size, med, shape[1:]))
            assert lr_size(p, str(c.scales.max)) >= c.patch.min_lr_patch
            assert lr_patch_ok(p, c.scales.values(), c.patch.min_lr_patch)
            assert max(c.training.val_scales) <= c.scales.max
        c = plans.configuration("2d")
        if expect_reduced:
            assert c.scales.max < 4 and "reduced" in c.scales.why and "small" in c.scales.why
        else:
            assert c.scales.max == 4.0 and c.patch.size == (96, 96) and c.patch.batch_size == 16


def test_gpu_memory_target_sets_the_batch(autosr_folders):
    name, _ = _plan(autosr_folders["raw"], dataset_id=4, shape=(6, 120, 130))
    small = plan_experiment(name, gpu_memory_target=3.0, clean=True).configuration("2d")
    assert 1 <= small.patch.batch_size < 16 and "3 GB" in small.patch.why


def test_cpu_configuration_states_its_time(autosr_folders):
    _, plans = _plan(autosr_folders["raw"], dataset_id=5, shape=(6, 120, 130))
    cpu, paper = plans.configuration("2d_cpu"), plans.configuration("2d")
    assert (paper.training.warmup_steps, paper.training.gan_steps, paper.training.lr) == (100_000, 100_000, 1e-4)
    assert paper.training.lr_halve_every == 50_000 and paper.network["upsample_skip"] == "none"
    total = cpu.training.warmup_steps + cpu.training.gan_steps
    assert 500 <= total <= 20_000 and "min on a 2-core CPU" in cpu.training.why
    assert cpu.network["upsample_skip"] == "bicubic" and cpu.training.perceptual == "auto"


def test_ct_and_multichannel_normalisation(autosr_folders):
    _, ct = _plan(autosr_folders["raw"], dataset_id=6, name="CT", channel_names={"0": "CT"})
    n = ct.normalization[0]
    assert n["scheme"] == "CT" and -1000 <= n["lower"] < n["upper"] <= 700
    name, mr = _plan(autosr_folders["raw"], dataset_id=8, name="Multi", channel_names={"0": "FLAIR", "1": "T1c"})
    assert [e["scheme"] for e in mr.normalization] == ["MR", "MR"] and mr.num_channels == 2
    assert mr.configuration("2d").network["in_channels"] == 2
    plan_and_preprocess(name)
    arr, props = load_case(pre_folder(name), "autosrPlans_2d", "case001")
    assert arr.shape[0] == 2 and len(props["normalization"]) == 2
    assert 0.0 <= float(arr.min()) and float(arr.max()) <= 1.0


def test_2d_images(autosr_folders):
    folder = make_2d_dataset()
    plans = plan_and_preprocess(folder.name)
    assert plans.slicing_axis == 0 and "2D" in plans.raw["slicing"]["why"]
    arr, props = load_case(pre_folder(folder.name), "autosrPlans_2d", "img0")
    assert arr.ndim == 4 and arr.shape[1] == 1 and props["slicing_axis"] is None and props["ndim"] == 2
    assert len(props["crop_box"]) == 2


def test_planned_sigma_is_the_degradation_default():
    from autosr.degradation import default_sigma
    from autosr.planners.default_planner import _default_sigma
    assert _default_sigma(3) == default_sigma(3) and _default_sigma(5) == default_sigma(5)


def test_one_axis_batches_by_default_and_self_supervised_on_thick_data(autosr_folders):
    _, thick = _plan(autosr_folders["raw"], dataset_id=3, shape=(40, 44, 6), spacing_xyz=(7.5, 0.75, 0.75))
    _, iso = _plan(autosr_folders["raw"], dataset_id=4, shape=(28, 24, 30), spacing_xyz=(1, 1, 1))
    for plans, expected, shares in ((thick, 10.0, (0.5, 0.5)), (iso, 6.0, (0.25, 0.5))):  # the 10:1 ratio, else ≥ 6
        for name, share in zip(("2d", "2d_cpu"), shares):
            scales, why = plans.configuration(name).scales, plans.raw["configurations"][name]["scales"]["why"]
            assert scales.single_axis_max == expected and scales.single_axis_probability == share
            assert "spacing ratio" in why and ("self-supervised" in why) == (plans is thick)
            assert plans.configuration(name).network.get("per_axis_scale") is True
        cpu_why = plans.raw["configurations"]["2d_cpu"]["training"]["why"]
        in_plane = int(re.search(r"the (\d+) steps of", cpu_why).group(1))  # the 8-minute count of in-plane steps
        assert abs(plans.configuration("2d_cpu").training.warmup_steps - 2 * in_plane) <= 10  # half are one-axis
        paper = plans.configuration("2d_paper")
        assert paper.scales.single_axis_probability == 0 and not paper.network.get("per_axis_scale")


def test_a_training_section_of_an_earlier_autosr_reads_as_its_losses():
    """lambda_l1 / gamma_adv / eta_perc / adversarial / perceptual_layer (before training.losses) mean the list."""
    from autosr.plans import Configuration
    old = {"data_identifier": "x", "network": {"name": "MetaSR"},
           "training": {"lambda_l1": 2.0, "gamma_adv": 0.01, "eta_perc": 0.0, "adversarial": "RaGAN",
                        "perceptual_layer": "conv3_1", "lr": 2e-4}}
    conf = Configuration.from_dict("2d", old, "old plans")
    assert [(e["name"], e["weight"]) for e in conf.training.losses] == [
        ("L1Loss", 2.0), ("PerceptualLoss", 0.0), ("RaGAN", 0.01)]
    assert conf.training.losses[1]["layer"] == "conv3_1" and conf.training.lr == 2e-4
    assert Configuration.from_dict("2d", {**old, "training": {}}, "new").training.losses[2] == {
        "name": "WGANGP", "weight": 0.001, "gp_weight": 10.0}
