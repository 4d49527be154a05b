"""Hand edits of autosrPlans.json survive re-planning while valid; --clean discards them."""
from __future__ import annotations

import json
import logging

from autosr.preprocessing.api import plan_and_preprocess, plan_experiment
from tests.planning.common import load_plans_json, pre_folder
from tests.synthetic import make_raw_dataset


def _edit(name, fn):
    path = pre_folder(name) / "autosrPlans.json"
    plans = json.loads(path.read_text(encoding="utf-8"))
    fn(plans)
    path.write_text(json.dumps(plans, indent=2), encoding="utf-8")


def test_edits_survive_replanning_and_clean_discards_them(autosr_folders, caplog):
    name = make_raw_dataset(autosr_folders["raw"], shape=(6, 60, 64)).name
    plan_and_preprocess(name, no_pp=True)
    fresh = load_plans_json(name)

    def edit(p):
        p["configurations"]["2d"]["training"]["lr"] = 2e-4
        p["configurations"]["2d"]["patch"]["size"] = [32, 32]             # valid: smaller than the slices
        p["configurations"]["2d_cpu"]["patch"]["size"] = [500, 500]       # invalid: larger than the slices
        p["crop"]["margin"] = [0, 2, 2]
        p["configurations"]["mine"] = json.loads(json.dumps(p["configurations"]["2d_cpu"]))
        p["configurations"]["mine"]["training"]["warmup_steps"] = 7
        p["configurations"]["mine"]["patch"]["size"] = [40, 40]
        p["configurations"]["mine"]["scales"]["max"] = 3.0               # ⌊40/3⌋ ≥ 12: kept whole, so valid itself
    _edit(name, edit)
    with caplog.at_level(logging.WARNING):
        plans = plan_experiment(name)
    raw = plans.raw
    assert raw["configurations"]["2d"]["training"]["lr"] == 2e-4
    assert raw["configurations"]["2d"]["patch"]["size"] == [32, 32]
    assert "Kept from your edit" in raw["configurations"]["2d"]["patch"]["why"]
    # the scales follow the edited patch (not edited themselves): ⌊32/s⌋ ≥ 12
    assert raw["configurations"]["2d"]["scales"]["max"] <= 32 / 12
    assert raw["configurations"]["2d_cpu"]["patch"]["size"] == fresh["configurations"]["2d_cpu"]["patch"]["size"]
    assert "no longer valid" in caplog.text and "2d_cpu.patch.size" in caplog.text
    assert raw["crop"]["margin"] == [0, 2, 2]
    assert raw["configurations"]["mine"]["training"]["warmup_steps"] == 7
    # unedited values are re-planned, edits are kept again on a second re-plan
    again = plan_experiment(name).raw
    assert again["configurations"]["2d"]["training"]["lr"] == 2e-4 and again["crop"]["margin"] == [0, 2, 2]
    clean = plan_experiment(name, clean=True).raw
    assert clean == fresh


def test_hand_written_plans_without_sidecar(autosr_folders):
    name = make_raw_dataset(autosr_folders["raw"], dataset_id=2, shape=(6, 60, 64)).name
    plan_and_preprocess(name, no_pp=True)
    (pre_folder(name) / "autosrPlans.planned.json").unlink()
    _edit(name, lambda p: p["configurations"]["2d"]["training"].__setitem__("gan_steps", 5))
    assert plan_experiment(name).raw["configurations"]["2d"]["training"]["gan_steps"] == 5


def test_an_edit_of_the_wrong_type_is_dropped_with_a_warning(autosr_folders, caplog):
    name = make_raw_dataset(autosr_folders["raw"], dataset_id=3, shape=(6, 60, 64)).name
    plan_and_preprocess(name, no_pp=True)
    fresh = load_plans_json(name)
    _edit(name, lambda p: p["configurations"]["2d"]["network"].__setitem__("width", "wide"))
    with caplog.at_level(logging.WARNING):
        raw = plan_experiment(name).raw
    assert raw["configurations"]["2d"]["network"]["width"] == 64 and "could not be applied" in caplog.text
    assert raw == fresh
