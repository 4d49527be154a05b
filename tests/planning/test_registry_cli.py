"""Planner registry (-pl, $AUTOSR_PLANNERS_PATH) and the four commands."""
from __future__ import annotations

import json
import textwrap

import pytest

from autosr.commands.plan import fingerprint_main, main, plan_main, preprocess_main
from autosr.planners import PlannerNotFoundError, available_planners, get_planner
from autosr.planners.default_planner import DefaultPlanner
from tests.planning.common import load_plans_json, pre_folder
from tests.synthetic import make_raw_dataset


def test_builtin_and_user_planners(tmp_path, monkeypatch):
    assert get_planner("DefaultPlanner") is DefaultPlanner
    with pytest.raises(PlannerNotFoundError, match="Available planners: .*DefaultPlanner"):
        get_planner("Nope")
    user = tmp_path / "my_planners"
    user.mkdir()
    (user / "wide.py").write_text(textwrap.dedent('''
        from autosr.planners.default_planner import DefaultPlanner

        class WideMarginPlanner(DefaultPlanner):
            inplane_margin = 8
    '''))
    (user / "broken.py").write_text("raise RuntimeError('oops')\n", encoding="utf-8")
    monkeypatch.setenv("AUTOSR_PLANNERS_PATH", str(user))
    assert "WideMarginPlanner" in available_planners()
    assert get_planner("WideMarginPlanner").inplane_margin == 8


def test_the_four_commands(autosr_folders, tmp_path, monkeypatch, capsys):
    name = make_raw_dataset(autosr_folders["raw"], n_cases=2).name
    assert fingerprint_main(["-d", "1", "-np", "1"]) == 0
    assert (pre_folder(name) / "dataset_fingerprint.json").is_file()
    assert plan_main(["-d", "Synth"]) == 0
    assert preprocess_main(["-d", name, "-c", "2d_cpu", "-np", "1"]) == 0
    assert (pre_folder(name) / "autosrPlans_2d" / "case001.json").is_file()
    user = tmp_path / "p"
    user.mkdir()
    (user / "m.py").write_text("from autosr.planners.default_planner import DefaultPlanner\n"
                               "class M(DefaultPlanner):\n    inplane_margin = 1\n")
    monkeypatch.setenv("AUTOSR_PLANNERS_PATH", str(user))
    assert main(["-d", "1", "-pl", "M", "--no_pp", "--clean", "-np", "1"]) == 0
    plans = load_plans_json(name)
    assert plans["planner"] == "M" and plans["crop"]["margin"][1] == 1
    assert "[2d_cpu]: slices along axis 0" in capsys.readouterr().out


def test_fingerprint_is_reused_unless_clean(autosr_folders):
    name = make_raw_dataset(autosr_folders["raw"], n_cases=2).name
    assert fingerprint_main(["-d", "1", "-np", "1"]) == 0
    path = pre_folder(name) / "dataset_fingerprint.json"
    fp = json.loads(path.read_text(encoding="utf-8"))
    fp["marker"] = 1
    path.write_text(json.dumps(fp), encoding="utf-8")
    assert fingerprint_main(["-d", "1", "-np", "1"]) == 0
    assert json.loads(path.read_text(encoding="utf-8"))["marker"] == 1
    assert fingerprint_main(["-d", "1", "-np", "1", "--clean"]) == 0
    assert "marker" not in json.loads(path.read_text(encoding="utf-8"))
    make_raw_dataset(autosr_folders["raw"], n_cases=3)                 # a case added: recomputed
    assert fingerprint_main(["-d", "1", "-np", "1"]) == 0
    assert json.loads(path.read_text(encoding="utf-8"))["num_cases"] == 3
