"""The plan's bounded measuring: a select's ladder skips the rungs a short line predicts, a speed like one measured
is extrapolated past the budget (marked, never kept, measured by a later call), and a dataset's base file is
loaded once for all its variants."""
import itertools
import json
import os

import pytest

from bench.core.config import load_config
from bench.paper import plan as paper_plan
from bench.paper.status import dataset_info
from bench.trial.timing import Meter, forward_flops, next_pool_after
from datasets import get_dataset
from tests.paper.test_paper import CannedMeter


def test_the_select_ladder_skips_rungs_only_where_the_line_so_far_predicts_a_short_call():
    # (pool, seconds) points so far, unlabelled size now, 4 labelled; rungs stop at 256 and at a 3 s call
    assert next_pool_after([(8, 0.01)], 4, 4, 256, 3.0) == 256       # 0.01 s x 260 / 8 = 0.33 s: straight on
    assert next_pool_after([(8, 0.2)], 4, 4, 256, 3.0) == 64         # 68 images ~1.7 s, 260 ~6.5 s: stop short
    assert next_pool_after([(8, 1.0)], 4, 4, 256, 3.0) == 16         # already slow: the plain 4x step
    # a flat line (VAAL below one batch of its own networks, or a noisy first call) skips no rung
    assert next_pool_after([(8, 0.5), (20, 0.48)], 16, 4, 256, 3.0) == 64
    assert next_pool_after([(68, 0.3), (260, 0.9)], 256, 4, 256, 3.0) == 1024   # past 256: 4x as before


def test_forward_flops_follow_the_network_and_the_image():
    r18, r34 = forward_flops("resnet18", 16, 3, 32, 10), forward_flops("resnet34", 16, 3, 32, 10)
    assert r34 / r18 == pytest.approx(2.08, rel=0.05)
    assert forward_flops("resnet18", 16, 1, 64, 9) / r18 == pytest.approx(4.0, rel=0.05)   # 4x the pixels
    assert forward_flops("resnet18", 64, 3, 32, 10) / r18 == pytest.approx(16.0, rel=0.05)  # width squared


def test_past_the_budget_a_like_speed_is_extrapolated_marked_unkept_and_measured_next(tmp_path, no_data_root):
    cache = str(tmp_path / "speeds.json")
    meter = CannedMeter("cpu", log=lambda s: None, cache=cache, budget_s=1e-9)   # spent by the first measurement
    p = paper_plan.plan("paper", base=str(tmp_path), measure=meter, data_root=no_data_root, quiet=True)
    train = {(m["arch"], m["shape"]): m for m in p.measured["train"]}
    assert not train[("resnet18", "3x32x32")]["approx"]   # the most common classifier and shape: measured first
    for k in [("resnet34", "3x32x32"), ("resnet18", "1x64x64")]:
        assert train[k]["approx"].startswith("~ extrapolated")
        ratio = forward_flops(k[0], 64, int(k[1][0]), int(k[1].split("x")[1]), 10) / \
            forward_flops("resnet18", 64, 3, 32, 10)
        assert train[k]["train_img_s"] == pytest.approx(CannedMeter.TRAIN / ratio)
    # a select with nothing like it measured is measured whatever the budget: every strategy once
    selects = p.measured["select"]
    assert {m["strategy"] for m in selects if not m["approx"]} == {m["strategy"] for m in selects}
    vabal100 = next(m for m in selects if m["strategy"] == "vabal" and m["classes"] == 100)
    assert vabal100["approx"] and vabal100["b_s_per_image"] == pytest.approx(10 * CannedMeter.SELECT[1])
    # marked in the table, counted in the total, and the trials that use them say so
    assert p.total["approx"] > 0 and "~" in p.text and "later --plan calls measure them" in p.text
    assert any(t.approx for t in p.trials.values()) and not all(t.approx for t in p.trials.values())
    # only what was measured is kept; the next call reads it and measures more (one at least, whatever the budget)
    with open(cache) as f:
        kept = next(iter(json.load(f).values()))
    assert len(kept) == len(meter.known) < len(meter.train_cache) + len(meter.select_cache)
    again = CannedMeter("cpu", log=lambda s: None, cache=cache, budget_s=1e-9)
    paper_plan.plan("paper", base=str(tmp_path), measure=again, data_root=no_data_root, quiet=True)
    assert again.reused == len(kept) and len(again.known) > len(kept)
    # with no budget, nothing is extrapolated
    whole = paper_plan.plan("paper", base=str(tmp_path), measure=CannedMeter("cpu", log=lambda s: None),
                            data_root=no_data_root, quiet=True)
    assert whole.total["approx"] == 0 and "~" not in whole.text.split("datasets:")[0]


def test_a_variant_read_through_its_base_has_the_sizes_of_its_own_load():
    for spec in ("digits", "digits_rare1", "digits_dom5"):
        cfg = load_config("paper/cifar10", (), dataset=spec, initial=10, budget=10, rounds=1)
        info = dataset_info(cfg)
        ds = get_dataset(spec, seed=0)
        assert info["n_train"] + info["n_val"] == len(ds.y_train) and info["n_test"] == len(ds.y_test)
        assert (info["channels"], info["size"], info["num_classes"]) == (1, 8, 10)


def test_a_negative_measuring_budget_is_refused(tmp_path):
    from tests.helpers import run_cli

    r = run_cli("paper", "--profile", "smoke", "--plan", "--measure-budget", "-1", "--out", str(tmp_path))
    assert r.returncode == 2 and "--measure-budget takes seconds >= 0" in r.stderr


@pytest.fixture
def no_data_root(tmp_path):
    d = tmp_path / "no-data"
    d.mkdir()
    return str(d)



def test_tiny_images_beside_cifar_sized_ones_are_counted_and_planned(tmp_path):
    """A meta-device forward of one 8x8 image must not trip BatchNorm (the model counts in eval mode), with a
    budget or without one."""
    assert forward_flops("resnet18", 8, 1, 8, 10) > 0
    for budget in (0.0, 1e-9):
        meter = CannedMeter("cpu", log=lambda s: None, budget_s=budget)
        cfg = load_config("paper/cifar10", (), strategy_params={})
        for c, s in ((3, 32), (1, 8)):
            info = {"num_classes": 10, "channels": c, "size": s}
            assert meter.train(cfg, info)[0] > 0 and meter.select(cfg, "coreset", info)[1] > 0
        assert bool(meter.approx) == bool(budget)


def test_a_label_timed_on_the_same_cheaper_copy_reuses_that_measurement():
    """BALD at 20 and at 100 passes are both timed at 4 passes: measured once, scaled by each factor."""
    meter = CannedMeter("cpu", log=lambda s: None, budget_s=1e-9)
    info = {"num_classes": 10, "channels": 3, "size": 32}
    few = load_config("paper/cifar10", (), strategy_params={"bald": {"passes": 20}})
    many = load_config("paper/cifar10", (), strategy_params={"bald": {"passes": 100}})
    assert meter.select(few, "bald", info)[1] == pytest.approx(5 * CannedMeter.SELECT[1])
    assert meter.select(many, "bald", info)[1] == pytest.approx(25 * CannedMeter.SELECT[1])
    assert len(meter.took) == 1 and not meter.approx


def test_a_speed_measured_while_other_processes_had_the_cpu_is_used_said_and_not_kept(tmp_path, monkeypatch):
    from bench.trial import timing

    clock = iter([{"1": (10.0, 1.0)}, {"1": (10.6, 1.6)}])   # schedstat before, after: ran 0.6 s, waited 0.6 s
    monkeypatch.setattr(timing, "thread_cpu_seconds", lambda: next(clock))
    perf = itertools.count()                    # a clock a second further at each reading
    monkeypatch.setattr(timing.time, "perf_counter", lambda: float(next(perf)))
    said, cache = [], str(tmp_path / "speeds.json")
    meter = CannedMeter("cpu", log=said.append, cache=cache)
    info = {"channels": 3, "size": 32, "num_classes": 10}
    cfg = load_config(dataset="cifar10")
    assert meter.train(cfg, info) == (CannedMeter.TRAIN, CannedMeter.FORWARD)   # used by this estimate
    (share,) = meter.shared.values()
    assert share == pytest.approx(0.5)
    assert any("waited for a CPU 50%" in s and "not kept" in s for s in said)
    assert not os.path.exists(cache)            # nothing written for the next plan to trust


def test_a_measurement_that_had_its_cores_did_not_share_them(monkeypatch):
    from bench.trial import timing

    # 4 threads ran 3.9 s, waited 0.1 s (wake-ups, not sharing); one ended inside the block, one started there
    clock = iter([{"1": (5.0, 0.5), "2": (0.0, 0.0), "3": (1.0, 0.0), "9": (7.0, 3.0)},
                  {"1": (6.0, 0.52), "2": (1.0, 0.03), "3": (2.0, 0.02), "4": (0.9, 0.03)}])
    monkeypatch.setattr(timing, "thread_cpu_seconds", lambda: next(clock))
    perf = itertools.count()
    monkeypatch.setattr(timing.time, "perf_counter", lambda: float(next(perf)))
    with timing.CpuShared() as cpu:
        pass
    assert cpu.share == pytest.approx(0.025) and not cpu.shared


def test_a_busy_process_on_the_same_core_makes_a_measurement_wait_on_this_machine():
    import multiprocessing as mp

    from bench.trial import timing

    if timing.thread_cpu_seconds() is None or not hasattr(os, "sched_setaffinity"):
        pytest.skip("no /proc/self/task/*/schedstat or CPU affinity here")
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})   # this process and the spinner it starts share one core
    try:
        spinner = mp.get_context("spawn").Process(target=_spin, args=(3.0,), daemon=True)
        spinner.start()
        __import__("time").sleep(0.5)        # started and spinning
        with timing.CpuShared() as cpu:
            _spin(0.6)
        spinner.terminate()
        spinner.join()
    finally:
        os.sched_setaffinity(0, cores)
    assert cpu.shared and cpu.share > 0.3, cpu.share


def _spin(seconds):
    import time

    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_batchbald_is_timed_as_its_passes_plus_its_greedy_search_apart(monkeypatch):
    """The passes (a cheaper copy with one configuration, scaled by passes / 4) grow with the pool; the greedy
    search, timed apart at the profile's budget, is added to every select unscaled, and its budget is part of
    the key (another budget is another measurement)."""
    from strategies.batchbald import BatchBALD

    probe, factor = BatchBALD(passes=20).for_planning()
    assert (probe.passes, probe.configs, factor) == (4, 1, 5.0)
    asked = []
    monkeypatch.setattr(BatchBALD, "planning_extra", lambda self, budget, k: (
        asked.append((self.passes, budget, k)) or (lambda: 0.01 * budget)))

    class Apart(CannedMeter):   # canned passes, the part apart as the strategy times it
        _apart = Meter._apart

    meter = Apart("cpu", log=lambda s: None)
    info = {"num_classes": 10, "channels": 3, "size": 32}
    for budget in (500, 1000):
        cfg = load_config("paper/cifar10", (), budget=budget, strategy_params={"batchbald": {"passes": 20}})
        a, b = meter.select(cfg, "batchbald", info)[:2]
        assert (a, b) == pytest.approx((5 * CannedMeter.SELECT[0] + 0.01 * budget, 5 * CannedMeter.SELECT[1]))
    assert (20, 500, 10) in asked and (20, 1000, 10) in asked and len(meter.took) == 2


def test_batchbalds_greedy_estimate_times_the_enumeration_then_a_few_sampled_picks(monkeypatch):
    from strategies import batchbald

    clock, calls = [0.0], []

    def greedy(probs, n, configs, rng):   # a search lasting 0.2 s + 0.1 s a pick
        calls.append((tuple(probs.shape), n, configs))
        clock[0] += 0.2 + 0.1 * n

    monkeypatch.setattr(batchbald, "batchbald_greedy", greedy)
    monkeypatch.setattr(batchbald.time, "perf_counter", lambda: clock[0])
    s = batchbald.BatchBALD(passes=6, max_candidates=50, configs=100)
    assert s.planning_extra(40, 10)() == pytest.approx(0.2 + 0.1 * 40)   # what 40 picks would take
    # 10 classes, 100 configurations: 2 picks enumerated (10, then 100 configurations), timed with 1 more, then 10
    assert calls == [((6, 50, 10), 3, 100), ((6, 50, 10), 13, 100)]
    calls.clear()
    assert s.planning_extra(3, 10)() == pytest.approx(0.2 + 0.1 * 3)     # within the first picks: timed whole
    assert calls == [((6, 50, 10), 3, 100)]
    calls.clear()
    assert s.planning_extra(60, 10)() == pytest.approx(0.2 + 0.1 * 60)   # a budget above the candidates:
    assert calls[0][0] == (6, 60, 10)                                     # as many candidates, as select takes


def test_a_flat_select_line_climbs_to_a_pool_that_holds_several_of_its_batches(monkeypatch):
    """VAAL's time is flat below one batch of its own networks (one iteration whatever the pool): the ladder
    goes on while the line so far predicts a short call, instead of stopping at a flat 1.65 s (b = 0), one rung
    at a time, so the line is fitted on two pools of whole batches (68: 1 iteration, 260: 4)."""
    from bench.trial import timing
    from strategies import Strategy

    sizes = []

    class Batches(Strategy):   # 1.2 s + 0.45 s an iteration of 64 pool images, one at least
        def select(self, pool, budget):
            sizes.append(len(pool))
            return pool.unlabelled[:budget]

    def timed(fn, device):
        fn()
        return 1.2 + 0.45 * max(1, (sizes[-1] - 4) // 64)

    monkeypatch.setattr(timing, "timed", timed)
    cfg = load_config("paper/cifar10", ())
    a, b, pool, one = Meter("cpu", log=lambda s: None)._select(cfg, "batches", Batches(),
                                                               {"num_classes": 10, "channels": 3, "size": 32})
    assert sizes == [8, 20, 68, 260] and pool == 260 and not one
    assert b == pytest.approx(0.45 / 64) and a == pytest.approx(1.2 - 0.45 * 4 / 64)   # its true line past 64
