"""splits_final.json: five seeded folds, created once, user files respected and checked."""
from __future__ import annotations

import json

import pytest

from autosr.errors import DatasetError
from autosr.preprocessing.splits import SPLITS_FILE, ensure_splits, make_splits


def test_five_disjoint_folds_cover_every_case():
    cases = [f"c{i:02d}" for i in range(12)]
    splits = make_splits(cases)
    assert len(splits) == 5
    assert sorted(c for s in splits for c in s["val"]) == cases
    for s in splits:
        assert not set(s["train"]) & set(s["val"]) and set(s["train"]) | set(s["val"]) == set(cases)
    assert make_splits(cases) == splits and make_splits(cases, seed=1) != splits


def test_few_cases_still_give_five_folds(caplog):
    splits = make_splits(["a", "b", "c"])
    assert len(splits) == 5 and all(len(s["val"]) == 1 and len(s["train"]) == 2 for s in splits)
    single = make_splits(["only"])
    assert single[0] == {"train": ["only"], "val": ["only"]} and "one training case" in caplog.text


def test_created_once_and_user_file_respected(tmp_path):
    cases = ["a", "b", "c", "d", "e", "f"]
    first = ensure_splits(tmp_path, cases)
    assert ensure_splits(tmp_path, cases + ["g"]) == first              # never silently changed
    mine = [{"train": ["a", "b"], "val": ["c"]}]
    (tmp_path / SPLITS_FILE).write_text(json.dumps(mine), encoding="utf-8")
    assert ensure_splits(tmp_path, cases) == mine
    (tmp_path / SPLITS_FILE).write_text(json.dumps([{"train": ["a", "zz"], "val": ["c"]}]), encoding="utf-8")
    with pytest.raises(DatasetError, match="zz"):
        ensure_splits(tmp_path, cases)
    (tmp_path / SPLITS_FILE).write_text(json.dumps({"train": []}), encoding="utf-8")
    with pytest.raises(DatasetError, match="list of"):
        ensure_splits(tmp_path, cases)
