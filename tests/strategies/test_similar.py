"""SIMILAR: each greedy FL2MI pick is the exhaustive best increment of I(A; Q); GCMI is its modular top-k; the
rare classes are those below the median labelled count."""
import numpy as np
import pytest
import torch

from bench.perf.reference import fl2mi_every_row
from strategies import get_strategy
from strategies.similar import fl2mi_greedy, rare_classes
from strategies.testing import make_pool


def fl2mi(sim: np.ndarray, batch, eta: float) -> float:
    """I(A; Q) = sum_q max_a s(q, a) (0 for an empty A) + eta sum_a max_q s(a, q), written from the definition."""
    if not len(batch):
        return 0.0
    rows = sim[list(batch)]
    return float(np.maximum(rows.max(0), 0).sum() + eta * rows.max(1).sum())


def test_each_fl2mi_pick_is_the_exhaustive_best_increment():
    rng = np.random.default_rng(0)
    sim = rng.uniform(-0.3, 1.0, size=(25, 4))
    picks, gains = fl2mi_greedy(torch.from_numpy(sim), 6, 1.0, np.random.default_rng(1))
    batch = []
    for p, g in zip(picks, gains):
        best = max((c for c in range(25) if c not in batch), key=lambda c: fl2mi(sim, batch + [c], 1.0))
        assert p == best and np.isclose(g, fl2mi(sim, batch + [p], 1.0) - fl2mi(sim, batch, 1.0))
        batch.append(p)


@pytest.mark.parametrize("threads", [1, 2])
def test_the_lazy_greedy_picks_what_recomputing_every_row_picks_bit_for_bit(threads):
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for case in range(24):
            g = torch.Generator().manual_seed(case)
            n, q = int(torch.randint(1, 700, (1,), generator=g)), int(torch.randint(0, 90, (1,), generator=g))
            feats = torch.nn.functional.normalize(torch.randn(n + q, 16, generator=g), dim=1)
            sim = feats[:n] @ feats[n:].T
            if case % 3 == 0:   # exact ties: a coarse grid of similarities and repeated rows
                sim = (sim * 4).round() / 4
                sim[n // 2:] = sim[:n - n // 2].clone()
            budget, eta = int(torch.randint(1, n + 1, (1,), generator=g)), (0.0, 1.0, 0.3)[case % 3]
            want = fl2mi_every_row(sim, budget, eta, np.random.default_rng(case))
            block = n if case % 7 == 6 else int(1 + case % 5)   # n: every row at every pick (a GPU's way)
            picks, gains = fl2mi_greedy(sim, budget, eta, np.random.default_rng(case), block=block)
            assert (picks.tolist(), gains) == want, (case, n, q, budget)
        # a batch of one row over 32,768+ columns would be summed across threads (another order): never one row
        for seed in range(3):
            sim = torch.rand(1, 40_000, generator=torch.Generator().manual_seed(seed)).repeat(65, 1)
            for block in (1, 64):   # 64: the 65th row alone in the second batch
                picks, gains = fl2mi_greedy(sim, 2, 1.0, np.random.default_rng(seed), block=block)
                assert (picks.tolist(), gains) == fl2mi_every_row(sim, 2, 1.0, np.random.default_rng(seed))
    finally:
        torch.set_num_threads(old)


def test_rare_classes_and_the_strategies_on_a_pool():
    assert rare_classes([50, 3, 8, 20]).tolist() == [1, 2] and rare_classes([5, 5, 5]).tolist() == [1, 2]
    for name in ("similar", "similar_gcmi"):
        s = get_strategy(name)
        pool = make_pool(s, n=60, labelled=15)
        idx = s.select(pool, 7)
        assert len(np.unique(idx)) == 7 and np.isin(idx, pool.unlabelled).all()
        counts = np.bincount(pool.labelled_labels, minlength=pool.num_classes)
        assert s.diagnostics_["rare_classes"] == rare_classes(counts).tolist()
        assert s.diagnostics_["query_size"] == int(np.isin(pool.labelled_labels, rare_classes(counts)).sum())


def test_gcmi_is_the_top_k_of_summed_similarity_to_the_query():
    s = get_strategy("similar_gcmi")
    pool = make_pool(s, n=60, labelled=15)
    idx = s.select(pool, 5)
    from strategies._shared.feature_source import load_features

    q = pool.labelled[np.isin(pool.labelled_labels, s.diagnostics_["rare_classes"])]
    total = (load_features(pool, pool.unlabelled) @ load_features(pool, q).T).sum(1).numpy()
    assert set(idx) == set(pool.unlabelled[np.argsort(-total)[:5]])
