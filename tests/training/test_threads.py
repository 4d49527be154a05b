"""The CPU thread count: the user's setting wins; otherwise the cores other processes leave free
(measured from /proc/stat, re-decided while training, with hysteresis), capped by what pays off."""
from __future__ import annotations

import logging
import os

import pytest
import torch

from autosr import threads

TICK = os.sysconf("SC_CLK_TCK")


@pytest.fixture
def machine(monkeypatch):
    """No thread variables set; PyTorch's default is the current count; 8 usable cores; no waiting."""
    for var in threads.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(threads, "TORCH_DEFAULT", torch.get_num_threads())
    monkeypatch.setattr(threads, "_chosen", None)
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    monkeypatch.setattr(threads, "FIRST_WINDOW", 0.0)


class FakeMeter:
    """Reports the given loads of other processes, one per reading (the last one repeats)."""

    def __init__(self, *loads: float, cpus: int = 8) -> None:
        self.loads, self.which = list(loads), list(range(cpus))

    def others(self) -> float:
        return self.loads.pop(0) if len(self.loads) > 1 else self.loads[0]


def never(*args):
    raise AssertionError("called although the count was given")


def stat(*cpus) -> str:
    """A /proc/stat text: per CPU (user, idle, iowait, steal) in ticks, the rest zero."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    for i, (user, idle, iowait, steal) in enumerate(cpus):
        lines.append(f"cpu{i} {user} 0 5 {idle} {iowait} 1 2 {steal} 0 0")  # system 5, irq 1, softirq 2
    return "\n".join(lines + ["intr 1 2 3", "ctxt 99"])


def test_busy_time_counts_our_cpus_without_idle_and_iowait():
    text = stat((100, 900, 50, 3), (200, 10, 0, 0), (7000, 0, 0, 0))
    assert threads.busy_seconds(text, [0, 1]) == pytest.approx((100 + 8 + 3 + 200 + 8) / TICK)


def test_others_are_busy_time_less_our_own_cpu_time_per_wall_second():
    readings = iter([(stat((0, 0, 0, 0), (0, 0, 0, 0)), (10.0, 1.0)),
                     # 2 s: the two CPUs were busy 3.04 s together, this process used 1.5 s of that
                     (stat((150 * TICK // 100, 0, 0, 0), (154 * TICK // 100, 0, 0, 0)), (12.0, 2.5))])
    current = {}

    def read_stat():
        current["stat"], current["clocks"] = next(readings)
        return current["stat"]

    meter = threads.LoadMeter(read_stat, clocks=lambda: current["clocks"], which=[0, 1])
    assert meter.others() == pytest.approx((3.04 - 1.5) / 2.0)


def test_decision_gives_up_a_core_at_once_and_takes_it_back_only_when_clearly_free():
    assert threads.decide(2, 0.15, cores=2, cap=2) == 2  # noise is ignored
    assert threads.decide(2, 0.3, cores=2, cap=2) == 1   # a competitor squeezed by 2 threads: one core left to it
    assert threads.decide(1, 0.15, cores=2, cap=2) == 1  # hysteresis: not back yet …
    assert threads.decide(1, 0.05, cores=2, cap=2) == 2  # … only once it has gone
    assert threads.decide(2, 1.7, cores=2, cap=2) == 1   # never below one
    assert threads.decide(3, 0.0, cores=16, cap=4) == 4  # never above the cap
    assert threads.decide(16, 2.6, cores=16, cap=16) == 13


def test_governor_follows_the_load_and_logs_each_change_once(machine, monkeypatch, caplog):
    monkeypatch.setattr(threads, "CHECK_EVERY", 0.0)
    governor = threads.ThreadGovernor(2, "test", cap=2, meter=FakeMeter(0.9, 1.0, 0.2, 0.0, 0.0, cpus=2))
    with caplog.at_level(logging.INFO, logger="autosr.threads"):
        counts = []
        for _ in range(5):
            governor.check()
            counts.append(torch.get_num_threads())
    assert counts == [1, 1, 1, 2, 2]
    assert [r.getMessage() for r in caplog.records] == [
        "CPU threads: 2 → 1 (other processes now use 0.9 core(s))",
        "CPU threads: 1 → 2 (other processes now use 0.0 core(s))"]
    assert threads.explicit_setting() is None  # the governor's count is not taken for the user's


def test_governor_checks_only_every_few_seconds(machine):
    governor = threads.ThreadGovernor(2, "test", cap=2, meter=FakeMeter(1.0, cpus=2))
    governor.check()  # CHECK_EVERY has not passed: no reading
    assert governor.threads == 2 and governor.meter.loads == [1.0]


def test_start_sees_a_competitor_probes_only_the_free_cores_and_caps_by_what_pays(machine, monkeypatch):
    measured = {1: 1.0, 2: 0.55, 4: 0.54}
    tried = []
    monkeypatch.setattr(threads, "time_step", lambda step, n: tried.append(n) or measured[n])
    governor = threads.govern(lambda: None, meter_factory=lambda: FakeMeter(0.9))  # one core busy
    assert tried == [1, 2, 4] and governor.threads == 2 and governor.cap == 2  # 4 gained under 5 %
    assert "other processes use 0.9 of 8 core(s); probe step 1: 1000 ms, 2: 550 ms, 4: 540 ms, at most 2" \
        in governor.describe()
    assert torch.get_num_threads() == 2
    # still gaining at the last count it could try (1.5 cores busy): no cap below the usable cores
    tried.clear()
    measured.update({2: 0.5, 4: 0.26, 6: 0.2})
    governor = threads.govern(lambda: None, meter_factory=lambda: FakeMeter(1.5, 0.0))
    assert tried == [1, 2, 4, 6] and governor.threads == 6 and governor.cap == 8


def test_environment_variable_wins_no_probe_no_governor(machine, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    governor = threads.govern(never, meter_factory=never)
    assert governor.by_user and not governor.adaptive and governor.threads == torch.get_num_threads()
    assert "OMP_NUM_THREADS=3" in governor.describe()


def test_torch_set_num_threads_by_the_caller_wins(machine, monkeypatch):
    monkeypatch.setattr(threads, "TORCH_DEFAULT", torch.get_num_threads() + 1)
    governor = threads.govern(never, meter_factory=never)
    assert governor.by_user and not governor.adaptive
    assert f"torch.set_num_threads({torch.get_num_threads()})" in governor.reason


def test_deterministic_runs_keep_a_count_decided_by_the_machine(machine, monkeypatch):
    governor = threads.govern(None, adaptive=False, meter_factory=never)
    assert governor.threads == 7 and not governor.adaptive and torch.get_num_threads() == 7
    assert "8 usable core(s), one left free (deterministic run)" in governor.reason
    monkeypatch.setattr(threads, "CHECK_EVERY", 0.0)
    governor.check()  # nothing to follow
    assert torch.get_num_threads() == 7


def test_without_proc_stat_the_fixed_rule_with_its_probe(machine, monkeypatch):
    def no_proc_stat():
        raise FileNotFoundError("/proc/stat")

    monkeypatch.setattr(threads, "time_step", lambda step, n: {1: 1.0, 2: 0.5, 4: 0.48}[n])
    governor = threads.govern(lambda: None, meter_factory=no_proc_stat)
    assert governor.threads == 2 and not governor.adaptive
    assert "one left free (no /proc/stat to watch the load)" in governor.reason


def test_probe_helpers():
    x = torch.rand(64, 64)
    assert threads.time_step(lambda: x @ x, 1, repeats=2) > 0
    assert threads.pick({1: 1.0, 2: 0.97}) == 1  # a 3 % gain does not pay for a thread
    assert threads.candidates(7) == [1, 2, 4, 7] and threads.candidates(4) == [1, 2, 4]


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="Linux only")
def test_real_meter_reads_this_machine():
    meter = threads.LoadMeter()
    assert 0.0 <= meter.others() <= len(meter.which) + 0.5


def test_training_follows_the_load_after_every_step(env, machine, monkeypatch):
    import json

    from autosr.commands.train import main
    from tests.training.helpers import TINY
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "CHECK_EVERY", 0.0)
    checks = []
    check = threads.ThreadGovernor.check
    monkeypatch.setattr(threads.ThreadGovernor, "check", lambda self: checks.append(self.adaptive) or check(self))
    argv = ["1", "0", "-c", "2d_cpu", "--steps", "4", "--warmup_steps", "2", "--device", "cpu"]
    assert main(argv + [a for k, v in TINY.items() for a in ("-o", f"{k}={json.dumps(v)}")]) == 0
    log = (env / "Dataset001_One" / "MetaSRTrainer__autosrPlans__2d_cpu" / "fold_0" / "training_log.txt").read_text(encoding="utf-8")
    assert "; following the load; set OMP_NUM_THREADS to fix)" in log
    assert checks == [True] * 4
