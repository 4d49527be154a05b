"""The CPU thread count: the user's setting wins; otherwise the fewest threads that pay off, never every core."""
from __future__ import annotations

import pytest
import torch

from autosr import threads


@pytest.fixture
def machine(monkeypatch):
    """No thread variables set; PyTorch's default is the current count; 8 usable cores."""
    for var in threads.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(threads, "TORCH_DEFAULT", torch.get_num_threads())
    monkeypatch.setattr(threads, "_chosen", None)
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)


def never(*args):
    raise AssertionError("the probe ran although the count was given")


def test_environment_variable_is_kept_without_probing(machine, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    choice = threads.choose_threads(never)
    assert choice.by_user and choice.threads == torch.get_num_threads()
    assert "OMP_NUM_THREADS=3" in choice.describe()


def test_torch_set_num_threads_by_the_caller_is_kept(machine, monkeypatch):
    monkeypatch.setattr(threads, "TORCH_DEFAULT", torch.get_num_threads() + 1)
    choice = threads.choose_threads(never)
    assert choice.by_user and choice.threads == torch.get_num_threads()
    assert f"torch.set_num_threads({torch.get_num_threads()})" in choice.reason


def test_probe_picks_the_fewest_threads_within_tolerance_and_restores_the_count(machine, monkeypatch):
    measured = {1: 1.0, 2: 0.55, 4: 0.5, 7: 0.52}  # 7 = 8 cores less one left free
    monkeypatch.setattr(threads, "time_step", lambda step, n: measured[n])
    before = torch.get_num_threads()
    choice = threads.choose_threads(lambda: None)
    assert choice.threads == 2 and not choice.by_user
    # 4 threads gained under 10 % over 2: the probe stopped there
    assert "probe step 1: 1000 ms, 2: 550 ms, 4: 500 ms;" in choice.reason
    assert torch.get_num_threads() == before  # choosing changes nothing; apply() does


def test_ceiling_leaves_a_core_free_and_one_per_loader_worker(machine, monkeypatch):
    assert threads.choose_threads(None).threads == 7  # no probe (deterministic runs): the ceiling
    assert threads.choose_threads(None, workers=2).threads == 5
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    choice = threads.choose_threads(never)  # one candidate: nothing to measure
    assert choice.threads == 1 and "2 usable core(s), one left free" in choice.reason
    monkeypatch.setattr(threads, "usable_cores", lambda: 1)
    assert threads.choose_threads(never, workers=3).threads == 1
    assert threads.candidates(7) == [1, 2, 4, 7] and threads.candidates(4) == [1, 2, 4]


def test_applied_choice_is_not_mistaken_for_a_user_setting(machine, monkeypatch):
    monkeypatch.setattr(threads, "TORCH_DEFAULT", torch.get_num_threads() + 1)
    threads.apply(threads.ThreadChoice(torch.get_num_threads(), "test"))
    assert threads.explicit_setting() is None


def test_time_step_measures_real_work():
    x = torch.rand(64, 64)
    assert threads.time_step(lambda: x @ x, 1, repeats=2) > 0
    assert threads.pick({1: 1.0, 2: 0.95}) == 1  # a 5 % gain does not pay for a thread
