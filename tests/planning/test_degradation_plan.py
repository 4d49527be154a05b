"""The plans' degradation distribution: planned per modality, round-trips through JSON, refuses bad ranges."""
from __future__ import annotations

import json

import pytest

from autosr.plans import Configuration, Plans, PlansError, apply_overrides
from autosr.preprocessing.api import plan_and_preprocess
from tests.planning.common import make_2d_dataset, walk_sections


def _planned(channel: str, dataset_id: int) -> Plans:
    folder = make_2d_dataset(dataset_id=dataset_id, name=f"Deg{channel}", channel=channel)
    return plan_and_preprocess(folder.name, no_pp=True)


def test_mr_gets_kspace_and_rician_ct_gets_kernel_and_gaussian_paper_keeps_one_recipe(autosr_folders):
    for channel, dataset_id, family, noise, said in (("MR", 31, "kspace", "rician", "k-space"),
                                                     ("CT", 32, "ct_like", "gaussian", "kernel")):
        plans = _planned(channel, dataset_id)
        for name in ("2d", "2d_cpu"):
            deg = plans.configuration(name).degradation
            names = [f["name"] for f in deg.families]
            assert family in names and "gaussian_psf" in names, (channel, name, names)
            assert deg.noise["model"] == noise
            assert f"{channel}:" in deg.why and said in deg.why and noise in deg.why.lower()
            # the network can be told each kind the distribution draws, for most patches
            kinds = ["paper", "antialiased", "area", "kspace" if channel == "MR" else "ct"]
            assert plans.configuration(name).network["acquisitions"] == kinds, (channel, name)
            assert deg.told_probability == pytest.approx(0.8) and "told" in deg.why
        paper = plans.configuration("2d_paper").degradation
        assert paper.families == () and not paper.antialias and paper.sigma == pytest.approx(0.8)
        assert plans.configuration("2d_paper").network["acquisitions"] == [] and paper.told_probability == 0
        assert "paper" in plans.raw["configurations"]["2d_paper"]["why"]
        for where, section in walk_sections(plans.raw):   # every family and the noise say why
            assert section.get("why"), where


def test_distribution_round_trips_through_json(autosr_folders, tmp_path):
    plans = _planned("MR", 33)
    conf = plans.configuration("2d_cpu")
    again = Configuration.from_dict("2d_cpu", json.loads(json.dumps(conf.to_dict())), "copy")
    assert again == conf and again.degradation.families == conf.degradation.families
    # a hand edit of the distribution survives saving and loading
    raw = json.loads(plans.path.read_text(encoding="utf-8"))
    raw["configurations"]["2d_cpu"]["degradation"]["families"] = [
        {"name": "kspace", "weight": 2, "windows": ["hann"]}, {"name": "area", "weight": 1}]
    raw["configurations"]["2d_cpu"]["degradation"]["noise"] = {"model": "rician", "snr": [10, 30], "probability": 0.5}
    plans.path.write_text(json.dumps(raw), encoding="utf-8")
    deg = Plans.load(plans.path).configuration("2d_cpu").degradation
    assert deg.families[0] == {"name": "kspace", "weight": 2.0, "windows": ("hann",)}
    assert deg.noise == {"model": "rician", "snr": (10.0, 30.0), "probability": 0.5}


@pytest.mark.parametrize("edit, culprit, says", [
    ({"families": [{"name": "gaussian_psf", "weight": 1, "sigma": [1.0, 0.5]}]}, "families", "[0].sigma must be [low, high]"),
    ({"families": [{"name": "gaussian_psf", "weight": 0}]}, "families", "[0].weight must be a number > 0"),
    ({"families": [{"name": "blur", "weight": 1}]}, "families", "[0].name must be one of gaussian_psf"),
    ({"families": [{"name": "kspace", "weight": 1, "windows": ["kaiser"]}]}, "families", "[0].windows must be"),
    ({"families": [{"name": "area", "weight": 1, "sigma": [0.5, 1]}]}, "families", "unknown key(s) sigma"),
    ({"families": [{"name": "ct_like", "weight": 1, "fwhm": [0, 1]}]}, "families", "[0].fwhm must be [low, high] with 0 < low"),
    ({"noise": {"model": "rician"}}, "noise", "needs \"snr\""),
    ({"noise": {"model": "rician", "snr": [50, 10]}}, "noise", "snr must be [low, high]"),
    ({"noise": {"model": "poisson", "snr": [5, 10]}}, "noise", "model must be one of"),
    ({"noise": {"model": "gaussian", "snr": [5, 10], "probability": 2}}, "noise", "probability must be"),
    ({"told_probability": 1.5}, "told_probability", "must be a number >= 0 and < 1"),
    ({"slice_profile": {"profiles": ["sinc"], "gap": [0, 0.1]}}, "slice_profile", "profiles must be a non-empty list"),
    ({"slice_profile": {"profiles": ["boxcar"], "gap": [0.2, 0.1]}}, "slice_profile", "gap must be [low, high]"),
])
def test_invalid_distribution_is_refused_naming_file_and_key(autosr_folders, edit, culprit, says):
    plans = _planned("MR", 34)
    raw = json.loads(plans.path.read_text(encoding="utf-8"))
    raw["configurations"]["2d"]["degradation"].update(edit)
    plans.path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(PlansError) as err:
        Plans.load(plans.path)
    msg = str(err.value)
    assert str(plans.path) in msg and f"configurations.2d.degradation.{culprit}" in msg and says in msg, msg
    # the same through a command-line override, naming the option
    with pytest.raises(PlansError, match=r"-o degradation\." + culprit):
        apply_overrides(plans.configuration("2d_cpu"), {f"degradation.{culprit}": edit[culprit]}, plans)


def test_an_empty_family_list_is_the_reference_recipe_override(autosr_folders):
    plans = _planned("MR", 35)
    conf = apply_overrides(plans.configuration("2d_cpu"), {"degradation.families": []}, plans)
    assert conf.degradation.families == () and conf.degradation.antialias


def test_kinds_of_a_distribution():
    from autosr.plans import kinds_of
    psf = {"name": "gaussian_psf", "weight": 1}
    assert kinds_of([psf]) == ("paper",)                                        # no antialiasing drawn
    assert kinds_of([dict(psf, antialias_probability=1.0)]) == ("antialiased",)
    assert kinds_of([{"name": "kspace", "weight": 1}, dict(psf, antialias_probability=0.5)]) == \
        ("paper", "antialiased", "kspace")
    assert kinds_of([{"name": "ct_like", "weight": 1}, {"name": "area", "weight": 1}]) == ("area", "ct")
