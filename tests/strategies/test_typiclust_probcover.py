"""Reference tests of TypiClust and ProbCover on hand-built sets: typicality by hand, the cluster visiting
order, greedy max-coverage against brute force, the purity rule, the fixed edge cases of the authors'
code, a cross-check with scikit-activeml's ProbCover, and the per-dataset feature file."""
import hashlib

import numpy as np
import pytest
import torch

from bench.core.pool import Pool
from strategies._shared.feature_source import load_features
from strategies.probcover import (
    ProbCover,
    ball_graph,
    coverage_degrees,
    covered_by,
    max_coverage_greedy,
    nearest_other_sq,
    purity_threshold,
)
from strategies.testing import check_strategy, make_pool
from strategies.typiclust import TypiClust, cluster_order, typicality, typiclust_select


def test_typiclust_and_probcover_keep_the_contract():
    assert check_strategy(TypiClust)
    assert check_strategy(TypiClust, squared_distances=False, max_clusters=3)
    assert check_strategy(ProbCover)
    assert check_strategy(ProbCover, delta=0.3, normalise=False)


def test_typicality_by_hand():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    # squared distances to the other points: 0: 1, 9, 49; 1: 1, 4, 36; 3: 9, 4, 16; 7: 49, 36, 16
    assert torch.allclose(typicality(x, 1), 1 / (torch.tensor([1.0, 1, 4, 16], dtype=torch.float64) + 1e-5))
    assert torch.allclose(typicality(x, 2, chunk=1), 1 / (torch.tensor([5.0, 2.5, 6.5, 26]).double() + 1e-5))
    assert torch.allclose(typicality(x, 2, squared=False), 1 / (torch.tensor([2.0, 1.5, 2.5, 5]).double() + 1e-5))
    assert (typicality(x[:1], 0) == 1).all()


def brute_typicality(f, knn):
    d = ((f[:, None] - f[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return 1 / (np.sort(d, 1)[:, :knn].mean(1) + 1e-5)


def test_typiclust_visits_the_largest_least_labelled_clusters_and_takes_the_most_typical():
    rng = np.random.default_rng(0)
    sizes = [10, 8, 7, 4, 6]  # cluster 3 (4 points) is too small; 2 points of cluster 0 are labelled below
    clusters = np.repeat(np.arange(5), sizes)
    feats = rng.normal(size=(len(clusters), 2)) + 20 * clusters[:, None]
    labelled = np.zeros(len(clusters), bool)
    labelled[:2] = True  # two points of cluster 0
    assert cluster_order(clusters, labelled).tolist() == [1, 2, 4, 0]
    picks, n_random = typiclust_select(torch.tensor(feats), clusters, labelled, 5, rng)
    assert clusters[picks].tolist() == [1, 2, 4, 0, 1] and n_random == 0
    free = ~labelled
    for p in picks:  # each pick: the most typical free point of its cluster at that moment
        members = np.flatnonzero(free & (clusters == clusters[p]))
        typ = brute_typicality(feats[members], min(20, len(members) // 2))
        assert p == members[np.argmax(typ)]
        free[p] = False


def test_typiclust_skips_exhausted_clusters_then_falls_back_to_random():
    clusters = np.repeat([0, 1], [6, 3])  # cluster 1 is dropped: after 6 picks only random ones remain
    labelled = np.zeros(9, bool)
    labelled[8] = True
    picks, n_random = typiclust_select(torch.randn(9, 3), clusters, labelled, 8, np.random.default_rng(1))
    assert n_random == 2 and sorted(picks[:6].tolist()) == list(range(6))
    assert sorted(picks.tolist()) == list(range(8))


def brute_greedy(d, delta, labelled, k):
    edges = d < delta
    covered = edges[labelled].any(0)
    picks = []
    for _ in range(k):
        degrees = edges[:, ~covered].sum(1)
        if degrees.max() == 0:
            break
        picks.append(int(np.argmax(degrees)))
        covered |= edges[picks[-1]]
    return picks, covered


@pytest.mark.parametrize("seed", range(5))
def test_max_coverage_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 60))
    x = rng.normal(size=(n, 3))
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    gaps = np.unique(d)
    i = int(rng.integers(n, len(gaps) // 4))
    delta = float(gaps[i] + gaps[i + 1]) / 2  # between two distances: no pair sits on the boundary
    labelled = np.zeros(n, bool)
    labelled[rng.choice(n, rng.integers(0, 6), replace=False)] = True
    k = int(rng.integers(1, 15))
    graph = ball_graph(torch.tensor(x), delta ** 2, chunk=7)  # n is rarely a multiple of 7
    assert (graph.diagonal() == 1).all() and graph.nnz == (d < delta).sum()  # every row has its edges
    picks, n_random, coverage = max_coverage_greedy(graph, labelled, k, np.random.default_rng(9))
    want, covered = brute_greedy(d, delta, labelled, k)
    assert picks[:len(want)].tolist() == want and n_random == k - len(want)
    assert np.isclose(coverage, covered.mean()) and not labelled[picks].any()
    assert len(set(picks.tolist())) == len(picks)


def test_full_coverage_falls_back_to_random_unlabelled_picks():
    x = torch.tensor(np.random.default_rng(0).normal(size=(12, 2)))
    labelled = np.zeros(12, bool)
    labelled[[0, 1]] = True  # the authors' argmax would return position 0 once all degrees are 0
    graph = ball_graph(x, 100.0 ** 2)
    picks, n_random, coverage = max_coverage_greedy(graph, labelled, 10, np.random.default_rng(0))
    assert coverage == 1.0 and sorted(picks.tolist()) == list(range(2, 12))
    picks, n_random, _ = max_coverage_greedy(graph, np.zeros(12, bool), 4, np.random.default_rng(0))
    assert picks[0] == 0 and n_random == 3 and len(set(picks.tolist())) == 4


def test_purity_rule_gives_the_largest_pure_enough_delta():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 2))
    pseudo = (x[:, 0] > 0).astype(int)
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    purity = lambda t: np.mean([(pseudo[d2[i] < t] == pseudo[i]).all() for i in range(40)])  # noqa: E731
    t = purity_threshold(nearest_other_sq(torch.tensor(x), pseudo, chunk=6), 0.95)
    assert purity(t * (1 - 1e-12)) >= 0.95 and purity(t * (1 + 1e-9)) < 0.95  # rounding-safe sides of t
    assert purity_threshold(np.full(5, np.inf)) == np.inf  # one pseudo-label: every ball is pure


@pytest.mark.filterwarnings("ignore:The maximum purity")  # it warns that a single delta is not searched
def test_coverage_agrees_with_scikit_activeml():
    """scikit-activeml's ProbCover with one given delta (no purity search): it marks everything within
    delta of a labelled or picked point covered and reports every candidate's count of uncovered points
    in its ball (its `utilities`). Known differences: its balls are closed (<= delta; ours < delta as the
    authors: no distance here equals delta), it breaks degree ties at random (ours: lowest position), it
    builds a dense N x N distance matrix, and it neither normalises features nor has a fallback after
    full coverage. So we replay its picks and compare degrees step by step."""
    from skactiveml.pool import ProbCover as SkProbCover

    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 3))
    y = np.full(40, np.nan)
    y[:5] = [0, 1, 0, 1, 0]
    theirs, util = SkProbCover(deltas=[1.0], random_state=0).query(x, y, batch_size=6, return_utilities=True)
    graph = ball_graph(torch.tensor(x), 1.0)
    for b in range(6):
        sources = np.concatenate([np.arange(5), theirs[:b]]).astype(int)
        candidates = np.setdiff1d(np.arange(40), sources)
        degrees = coverage_degrees(graph, covered_by(graph, sources))
        assert np.array_equal(util[b][candidates], degrees[candidates])
    ours, _, _ = max_coverage_greedy(graph, np.arange(40) < 5, 6, np.random.default_rng(0))
    assert (util[0] == np.nanmax(util[0])).sum() == 1 and ours[0] == theirs[0]  # a unique best first ball


def test_feature_file_rows_provenance_and_errors(tmp_path):
    table = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
    path = tmp_path / "feats.npy"
    np.save(path, table)
    base = make_pool(TypiClust())
    pool = Pool(base.x[:6], np.zeros(6, np.int64), [0], base.model, 3, np.random.default_rng(0), device="cpu",
                source_index=np.array([59, 3, 9, 0, 1, 2]))
    got = load_features(pool, [0, 2, 5], str(path), normalise=False)
    assert np.array_equal(got.numpy(), table[[59, 9, 2]])
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    for cls in (TypiClust, ProbCover):
        s = cls(features=str(path))
        assert s.provenance()["features_sha256"] == sha and cls().provenance() == {}
        assert len(s.select(make_pool(s), 5)) == 5  # make_pool's 48 images read rows 0..47
        np.save(tmp_path / "short.npy", table[:40])
        with pytest.raises(ValueError, match="short.npy has 40 rows"):
            cls(features=str(tmp_path / "short.npy")).select(make_pool(s), 5)
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        TypiClust(features=str(tmp_path / "missing.npy")).select(make_pool(TypiClust()), 3)


def test_strategy_diagnostics():
    s = TypiClust(max_clusters=4)
    s.select(make_pool(s), 5)
    assert s.diagnostics_["n_clusters"] == 4
    s = ProbCover()
    s.select(make_pool(s), 5)
    assert s.diagnostics_["purity"] >= 0.95 and 0 < s.diagnostics_["delta"] < 2
    capped = ProbCover(delta=10.0, max_edges=100)   # a radius too large for the bound: shrunk, and said so
    capped.select(make_pool(s), 5)
    assert capped.diagnostics_["delta_capped_from"] == 10.0 and capped.diagnostics_["edges"] <= 100
