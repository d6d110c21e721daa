"""GALAXY, DIRECT, the class-balancing wrapper and the oracle reference line: the contract kit, planted 1-D
thresholds, quotas by hand, and the label oracle's accounting."""
import math

import numpy as np
import pytest

import strategies
from bench.core.pool import BudgetExceededError, LabelLeakError
from strategies import Strategy, get_strategy
from strategies._shared.margin_orderings import class_orderings, threshold_accuracies
from strategies.balanced import balanced, balancing_quotas, quota_top_k, register_balanced
from strategies.balanced_random_oracle import BalancedRandomOracle
from strategies.direct import best_threshold, direct_select, positions_around, shrink_interval
from strategies.galaxy import bisection_point, galaxy_select, nearest_to_cut
from strategies.testing import check_strategy, make_pool

NEW = ["galaxy", "direct", "balanced_entropy", "balanced_margin", "balanced_bald", "balanced_random_oracle"]
FAST = {"balanced_bald": {"passes": 4}}


@pytest.mark.parametrize("name", NEW)
def test_contract(name):
    assert check_strategy(type(get_strategy(name)), **FAST.get(name, {}))


def line(n, t, noise=0.0, seed=0):
    """A binary 1-D problem: row i sits at position i of class 1's line, rows < t are class 1; the two ends
    (5 rows each) are labelled; ``noise`` flips that share of the oracle's answers."""
    p1 = np.linspace(0.99, 0.01, n)
    y = (np.arange(n) < t).astype(np.int64)
    y = np.where(np.random.default_rng(seed + 100).random(n) < noise, 1 - y, y)
    labels = np.full(n, -1)
    labels[:5], labels[-5:] = y[:5], y[-5:]
    return np.stack([1 - p1, p1], 1), labels, y


def known_threshold(labels, y, picks):
    lab = labels.copy()
    lab[picks] = y[picks]
    return best_threshold(np.where(lab < 0, 0, np.where(lab == 1, 1, -1)))


def test_orderings_and_threshold_accuracies_by_hand():
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]])
    assert class_orderings(probs)[0].tolist() == [0, 2, 1, 3]  # predicted-0 by confidence, then by margin
    assert class_orderings(probs)[1].tolist() == [1, 2, 0, 3]
    assert threshold_accuracies([1, 1, 0, 0, 0, -1]).tolist() == [-1, 1, 3, 3, 3, 3, 1]


def test_galaxy_bisection_and_fallback_by_hand():
    known = np.array([1, 0, 0, 0, 1, 0, 1, 0, 0, 1], bool)
    positive = np.array([1, 0, 0, 0, 0, 0, 1, 0, 0, 0], bool)
    assert bisection_point(known, positive) == 5  # gaps 3, 1, 2: the shortest is between 4 and 6
    known = np.array([0, 0, 1, 1, 1, 1, 1, 0], bool)
    positive = np.array([0, 0, 1, 1, 1, 0, 0, 0], bool)
    assert bisection_point(known, positive) == -1  # the only boundary (4 | 5) is tight
    assert nearest_to_cut(known, positive) == 7  # distances to 4.5: 4.5, 3.5, 2.5
    assert nearest_to_cut(known, np.ones(8, bool)) == -1


def test_galaxy_finds_a_planted_threshold_in_log2_queries():
    n, t = 1025, 437
    probs, labels, y = line(n, t)
    need = math.ceil(math.log2(n - 10 + 1))  # the unlabelled stretch between the labelled ends
    picks, how = galaxy_select(probs, labels, need, lambda r: y[r], np.random.default_rng(0))
    assert how == {"bisection": need, "near_boundary": 0, "random": 0}
    assert {t - 1, t} <= set(picks.tolist()) and known_threshold(labels, y, picks) == t
    picks, _ = galaxy_select(probs, labels, need - 1, lambda r: y[r], np.random.default_rng(0))
    assert not {t - 1, t} <= set(picks.tolist())  # one query fewer is not enough
    picks, how = galaxy_select(probs, labels, need + 3, lambda r: y[r], np.random.default_rng(0))
    assert how["near_boundary"] == 3 and np.abs(picks[need:] - t).max() <= 3  # dry: next to the boundary


def test_galaxy_class_choice():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), 60)
    labels = np.full(60, -1)
    labels[:3] = [0, 1, 2]
    y = probs.argmax(1)
    a, _ = galaxy_select(probs, labels, 12, lambda r: y[r], np.random.default_rng(1), "round_robin")
    b, _ = galaxy_select(probs, labels, 12, lambda r: y[r], np.random.default_rng(1), "random")
    assert len(set(a.tolist())) == len(set(b.tolist())) == 12 and not (a == b).all()
    with pytest.raises(ValueError, match="class_choice"):
        get_strategy("galaxy", class_choice="cyclic")


def test_direct_pieces_by_hand():
    signs = np.array([1, 1, 0, 0, 0, -1])
    assert best_threshold(signs) == 4 and best_threshold(signs, "first") == 2
    assert positions_around(signs, 4, 3).tolist() == [3, 4, 2]  # left, right, left
    # accuracies of thresholds 0..9: -1 1 1 3 5 5 5 3 3 1; threshold 1 (1) < threshold 8 (3): lo steps over
    # the unlabelled position 1, which leaves the 3 asked for (positions 4, 5, 7)
    signs = np.array([1, 0, 1, 1, 0, 0, -1, 0, -1])
    assert shrink_interval(signs, 1, 8, 3, np.random.default_rng(0)) == (2, 8)


@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_direct_finds_a_planted_threshold(noise):
    n, t, budget = 2000, 1237, 240  # budget // K // 2 = 60: both classes get the 60-label phase 1
    for seed in range(4):
        probs, labels, y = line(n, t, noise, seed)
        picks, phase1 = direct_select(probs, labels, budget, lambda r: y[r], np.random.default_rng(seed))
        assert len(picks) == budget == len(set(picks.tolist())) and 0 < phase1 <= 2 * 60
        found = known_threshold(labels, y, picks)  # the best threshold on every label now known
        assert found == t if noise == 0 else abs(found - t) <= 10  # noisy labels move the best a little
        walk = np.sort(picks[phase1:])  # phase 2: every image nearest the threshold, on both sides
        known = labels >= 0
        known[picks] = True
        assert known[walk[0]:walk[-1] + 1].all() and abs((walk[0] + walk[-1]) / 2 - t) <= 10


def test_direct_allowance_rule():
    probs, labels, y = line(400, 150)
    _, phase1 = direct_select(probs, labels, 3, lambda r: y[r], np.random.default_rng(0))
    assert phase1 == 0  # 3 // 2 // 2 = 0: no version-space phase, the labels go around the thresholds
    _, phase1 = direct_select(probs, labels, 40, lambda r: y[r], np.random.default_rng(0), parallel_labels=4)
    assert 0 < phase1 <= 2 * 10


def test_balancing_quotas_by_hand():
    rng = np.random.default_rng(0)
    assert balancing_quotas([10, 2, 5], [100, 100, 100], 7, rng).tolist() == [0, 5, 2]  # counts -> 10, 7, 7
    assert balancing_quotas([10, 2, 5], [100, 1, 100], 6, rng).tolist() == [0, 1, 5]  # class 1 runs out
    assert balancing_quotas([0, 0], [2, 1], 10, rng).tolist() == [2, 1]  # never more than there is
    assert quota_top_k([0.9, 0.1, 0.8, 0.7, 0.2], [0, 0, 1, 1, 1], [1, 2], rng).tolist() == [0, 2, 3]


def test_balanced_wrapper_follows_quotas_and_passes_options():
    s = get_strategy("balanced_entropy")
    pool = make_pool(s, budget=9)
    idx = s.select(pool, 9)
    pred = pool.probs(idx).argmax(1).numpy()
    assert np.bincount(pred, minlength=3).tolist() == s.diagnostics_["quotas"]
    assert get_strategy("balanced_bald").scoring_model_options == {"dropout": 0.25}
    assert get_strategy("balanced_bald", passes=4).get_params() == get_strategy("bald", passes=4).get_params()
    with pytest.raises(TypeError, match="no score"):
        balanced(type(get_strategy("random")))
    cls = register_balanced(type(get_strategy("least_confidence")))
    try:
        assert get_strategy("balanced_least_confidence").name == "balanced_least_confidence"
        assert check_strategy(cls)
    finally:
        strategies._api._REGISTRY.pop("balanced_least_confidence")


def test_oracle_balances_true_labels_and_needs_an_open_pool():
    s = BalancedRandomOracle()
    pool = make_pool(s, budget=7)
    idx = s.select(pool, 7)
    before = np.bincount(pool.labelled_labels, minlength=3)
    after = before + np.bincount(pool.true_labels(idx), minlength=3)
    water = before + balancing_quotas(before, [99] * 3, 7, np.random.default_rng(0))
    assert sorted(after.tolist()) == sorted(water.tolist())  # ties move a label, never the levels
    closed = make_pool(get_strategy("random"), budget=7)  # a pool for a method: true labels are shut
    with pytest.raises(LabelLeakError, match="reads_true_labels"):
        s.select(closed, 7)


def test_budget_accounting():
    pool = make_pool(get_strategy("galaxy"), budget=3)
    pool.reveal(pool.unlabelled[:2])
    pool.reveal(pool.unlabelled[:2])  # already revealed: not charged again
    with pytest.raises(BudgetExceededError):
        pool.reveal(pool.unlabelled[2:4])
    with pytest.raises(BudgetExceededError):
        get_strategy("galaxy").select(make_pool(get_strategy("galaxy"), budget=2), 5)
    with pytest.raises(BudgetExceededError):
        get_strategy("direct").select(make_pool(get_strategy("direct")), 5)  # a pool without a budget


def test_the_kit_catches_oracle_misuse():
    class RevealsOthers(Strategy):  # buys a label it does not return
        def select(self, pool, budget):
            k = self.check_budget(pool, budget)
            pool.reveal(pool.unlabelled[-1:])
            return pool.unlabelled[:k]

    class PeeksPastReveal(Strategy):  # reveals one label, then reads one it did not buy
        def select(self, pool, budget):
            k = self.check_budget(pool, budget)
            pool.reveal(pool.unlabelled[:1])
            pool.labels(pool.unlabelled[:2])
            return pool.unlabelled[:k]

    with pytest.raises(AssertionError, match="revealed by the oracle but not selected"):
        check_strategy(RevealsOthers)
    with pytest.raises(LabelLeakError):
        check_strategy(PeeksPastReveal)


def test_select_seconds_on_a_50k_pool():
    """Issue 12's scale: 50,000 images, 10 long-tailed classes, 5,000 labelled, budget 500, under 10 s each."""
    import time

    rng = np.random.default_rng(0)
    share = 100.0 ** (-np.arange(10) / 9)
    y = rng.choice(10, 50_000, p=share / share.sum())
    logits = 2.0 * np.eye(10)[y] + rng.normal(size=(50_000, 10))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.full(50_000, -1)
    lab = rng.choice(50_000, 5_000, replace=False)
    labels[lab] = y[lab]
    for fn in (galaxy_select, direct_select):
        t0 = time.perf_counter()
        picks, _ = fn(probs, labels, 500, lambda r: y[r], np.random.default_rng(1))
        seconds = time.perf_counter() - t0
        assert len(set(picks.tolist())) == 500 and (labels[picks] < 0).all()
        assert seconds < 10, f"{fn.__name__}: {seconds:.1f} s"
