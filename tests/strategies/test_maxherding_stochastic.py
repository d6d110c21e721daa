"""MaxHerding against scikit-activeml's and an exhaustive search; stochastic batches against their distribution."""
import numpy as np
import pytest
import torch

from strategies import get_strategy
from strategies.maxherding import herding_picks, rbf
from strategies.stochastic import log_weights, sample_batch
from strategies.testing import make_pool


def objective(k_pts_cand: np.ndarray, covered: np.ndarray, pick: int) -> float:
    """mean over the points of max(coverage so far, k(point, pick)): the quantity greedy herding increases."""
    return float(np.maximum(covered, k_pts_cand[:, pick]).mean())


def test_each_herding_pick_is_the_exhaustive_best_increment():
    rng = np.random.default_rng(0)
    x = torch.nn.functional.normalize(torch.randn(40, 5, dtype=torch.float64), dim=1)
    k = rbf(x, x, 0.7).numpy()
    covered = np.zeros(40)
    picks, gains = herding_picks(torch.from_numpy(k), torch.zeros(40, dtype=torch.float64), 6, rng)
    for p, g in zip(picks, gains):
        best = max(range(40), key=lambda c: objective(k, covered, c))
        assert p == best and np.isclose(g, objective(k, covered, p) - covered.mean())
        covered = np.maximum(covered, k[:, p])


@pytest.mark.parametrize("n_labelled", [0, 7])
def test_maxherding_picks_what_scikit_activeml_picks(n_labelled):
    from skactiveml.pool import MaxHerding as Peer

    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 6))
    y = np.full(80, np.nan)
    lab = rng.choice(80, n_labelled, replace=False)
    y[lab] = 0
    theirs = Peer(random_state=0).query(x, y, batch_size=10)
    unl = np.setdiff1d(np.arange(80), lab)
    f = torch.nn.functional.normalize(torch.from_numpy(x), dim=1)
    gamma = 1.0 / x.shape[1]
    k_max = rbf(f[unl], f[lab], gamma).max(1).values if n_labelled else torch.zeros(len(unl), dtype=torch.float64)
    picks, _ = herding_picks(rbf(f[unl], f[unl], gamma), k_max, 10, np.random.default_rng(0))
    assert unl[picks].tolist() == theirs.tolist()


def test_maxherding_subsamples_beyond_its_bound_and_says_so():
    s = get_strategy("maxherding", max_points=20)
    pool = make_pool(s, n=60, labelled=12)
    idx = s.select(pool, 5)
    assert len(np.unique(idx)) == 5 and np.isin(idx, pool.unlabelled).all()
    assert s.diagnostics_["subsampled"] and s.diagnostics_["candidates"] == 20
    assert len(get_strategy("maxherding", max_points=3).select(make_pool(s, n=60, labelled=12), 8)) == 8


def test_stochastic_batches_follow_their_weights():
    rng = np.random.default_rng(0)
    draws = np.array([sample_batch([1.0, 3.0], 1, "power", 1.0, rng)[0] for _ in range(4000)])
    assert abs(draws.mean() - 0.75) < 0.03                      # P(second) = 3 / (1 + 3)
    draws = np.array([sample_batch([1.0, 3.0], 1, "power", 0.5, rng)[0] for _ in range(4000)])
    assert abs(draws.mean() - 0.9) < 0.03                       # 9 / (1 + 9): a lower temperature sharpens
    assert np.allclose(np.exp(log_weights([5.0, -2.0, 0.1], "softrank", 1.0)), [1, 1 / 3, 1 / 2])
    scores = np.random.default_rng(2).random(50)
    cold = sample_batch(scores, 5, "power", 1e-6, np.random.default_rng(3))
    assert set(cold) == set(np.argsort(-scores)[:5])            # temperature -> 0: top-k
    with pytest.raises(ValueError, match="softrank"):
        log_weights([0.5, -0.5], "power", 1.0)


def test_wrapped_strategies_keep_their_base_parameters():
    s = get_strategy("power_bald", passes=4, temperature=0.5)
    assert s.get_params()["passes"] == 4 and s.get_params()["temperature"] == 0.5
    with pytest.raises(ValueError, match="temperature"):
        get_strategy("softrank_margin", temperature=0)
    pool = make_pool(get_strategy("softrank_margin"), n=48, labelled=12)
    a = get_strategy("softrank_margin").select(pool, 6)
    assert len(np.unique(a)) == 6 and np.isin(a, pool.unlabelled).all()


def test_cluster_margin_takes_one_per_cluster_smallest_cluster_first():
    from strategies.cluster_margin import round_robin

    groups = np.array([7, 7, 7, 3, 5, 5])          # cluster 7 holds 3 candidates, 3 holds 1, 5 holds 2
    for seed in range(5):
        picks = round_robin(groups, 5, np.random.default_rng(seed))
        assert groups[picks].tolist() == [3, 5, 7, 5, 7]
    assert sorted(round_robin(groups, 6, np.random.default_rng(0)).tolist()) == list(range(6))


def test_cluster_margin_picks_low_margin_images_across_clusters():
    s = get_strategy("cluster_margin", hac_points=30)
    pool = make_pool(s, n=80, labelled=10)
    idx = s.select(pool, 8)
    assert len(np.unique(idx)) == 8 and np.isin(idx, pool.unlabelled).all()
    d = s.diagnostics_
    assert d["hac_subset"] == 30 and d["clusters"] <= 15 and d["k_m"] == 10
    from strategies.margin import margin_scores

    m = margin_scores(pool.probs(pool.unlabelled).double()).cpu().numpy()
    low = set(pool.unlabelled[np.argsort(-m)[:10]])
    assert set(idx) <= low | set(pool.unlabelled[np.isclose(m, np.sort(m)[-10])])   # only from the k_m lowest
