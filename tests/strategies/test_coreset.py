"""k_center_greedy (CoreSet's scoring function) against references: a float64 brute force, the previous
implementation (copied below, on data where its float32 distances are accurate), scikit-activeml's CoreSet,
and hand-worked degenerate cases (duplicates, a collapsed embedding) where it must never return a labelled
or a repeated position."""
import sys
import types

import numpy as np
import pytest
import torch

import strategies.coreset as coreset
from strategies.coreset import k_center_greedy

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@torch.no_grad()
def old_k_center_greedy(feats, labelled_mask, k, rng=None, chunk=256):
    """albench's earlier k-center greedy (before its one-pass rewrite), kept as the reference: cdist (float32
    |a|^2+|b|^2-2ab) to the labelled centres, then one exact difference pass per pick."""
    n = len(feats)
    feats = feats.float()
    min_dist = torch.full((n,), float("inf"), device=feats.device)
    centres = torch.nonzero(labelled_mask).flatten()
    for i in range(0, len(centres), chunk):
        min_dist = torch.minimum(min_dist, torch.cdist(feats, feats[centres[i:i + chunk]]).min(dim=1).values)
    min_dist[labelled_mask] = 0
    picks = torch.empty(k, dtype=torch.long, device=feats.device)
    for j in range(k):
        if j == 0 and len(centres) == 0:
            rng = rng if rng is not None else np.random.default_rng(0)
            idx = torch.as_tensor(int(rng.integers(n)), device=feats.device)
        else:
            idx = torch.argmax(min_dist)
        picks[j] = idx
        min_dist = torch.minimum(min_dist, (feats - feats[idx]).pow(2).sum(1).sqrt())
        min_dist[idx] = 0
    return picks.cpu().numpy().astype(np.int64)


def brute_force_greedy(x, labelled, k):
    """float64 farthest-first, one exact difference pass per centre: (picks, each pick's distance to the
    centres before it, which is the largest such distance among the remaining points)."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    d2 = torch.full((len(x),), float("inf"), dtype=torch.float64)
    for c in np.flatnonzero(labelled):
        d2 = torch.minimum(d2, (x - x[c]).pow(2).sum(1))
    d2[torch.as_tensor(labelled)] = -1
    picks, dist = [], []
    for _ in range(k):
        i = int(torch.argmax(d2))
        picks.append(i)
        dist.append(float(d2[i].sqrt()))
        d2 = torch.minimum(d2, (x - x[i]).pow(2).sum(1))
        d2[i] = -1
    return picks, np.array(dist)


def mask(n, idx):
    m = torch.zeros(n, dtype=torch.bool)
    m[list(idx)] = True
    return m


def test_duplicates_never_give_labelled_or_repeated_positions():
    x = torch.tensor([[0, 0], [1, 0], [0, 0], [1, 0], [5, 5]], dtype=torch.float32)
    # 4 is the only point away from a centre; 2 and 3 duplicate the labelled 0 and 1 (distance 0):
    # the lowest remaining position first (the old code returned [4, 0, 0])
    assert k_center_greedy(x, mask(5, [0, 1]), 3).tolist() == [4, 2, 3]
    with pytest.raises(ValueError, match="only 3 unlabelled"):
        k_center_greedy(x, mask(5, [0, 1]), 4)


def test_collapsed_embedding():
    x = torch.full((7, 16), 1000.0)   # every point identical, far from the origin
    assert k_center_greedy(x, mask(7, [1, 4]), 5).tolist() == [0, 2, 3, 5, 6]
    picks = k_center_greedy(x, mask(7, []), 7, np.random.default_rng(3))
    first = int(np.random.default_rng(3).integers(7))
    assert picks.tolist() == [first] + [i for i in range(7) if i != first]


def test_k_larger_than_the_distinct_points():
    distinct = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]]) + 100
    x = distinct.repeat(4, 1)                      # positions p, p+3, p+6, p+9 hold distinct[p % 3]
    picks = k_center_greedy(x, mask(12, [0]), 11).tolist()
    # farthest-first reaches [0, 4] (5 away) then [3, 0] (3 away), then only distance-0 duplicates remain
    assert picks[:2] == [2, 1]
    assert picks[2:] == [i for i in range(12) if i not in (0, 1, 2)]
    assert sorted(picks) == list(range(1, 12))


@pytest.mark.parametrize("seed", range(3))
def test_large_offset_matches_float64_brute_force(seed):
    """64-d Gaussians + 1000: cdist's float32 |a|^2+|b|^2-2ab cancels away most of each distance (the
    old code picked points up to a few % short of the farthest); the picks must be float64's."""
    rng = np.random.default_rng(seed)
    n = 2000
    x = (rng.normal(size=(n, 64)) + 1000).astype(np.float32)
    labelled = np.zeros(n, bool)
    labelled[rng.choice(n, 200, replace=False)] = True
    want, want_dist = brute_force_greedy(x, labelled, 60)
    got = k_center_greedy(torch.tensor(x), torch.tensor(labelled), 60, chunk=64)
    xd = torch.tensor(x, dtype=torch.float64)
    centres = torch.as_tensor(np.flatnonzero(labelled))
    d2 = torch.full((n,), float("inf"), dtype=torch.float64)
    for c in centres:
        d2 = torch.minimum(d2, (xd - xd[c]).pow(2).sum(1))
    for j, i in enumerate(got):   # each pick is the farthest remaining point, to float64 precision
        assert float(d2[i].sqrt()) == pytest.approx(want_dist[j], rel=1e-5)
        d2 = torch.minimum(d2, (xd - xd[i]).pow(2).sum(1))
    assert got.tolist() == want


@pytest.mark.parametrize("seed", range(4))
def test_same_picks_as_the_old_implementation(seed):
    rng = np.random.default_rng(seed)
    n, dim = int(rng.integers(500, 1500)), int(rng.integers(4, 48))
    x = torch.tensor(rng.normal(size=(n, dim)), dtype=torch.float32)
    labelled = mask(n, rng.choice(n, int(rng.integers(0, 120)), replace=False))
    k = int(rng.integers(20, 80))
    want = old_k_center_greedy(x, labelled, k, np.random.default_rng(seed), chunk=50)
    assert k_center_greedy(x, labelled, k, np.random.default_rng(seed), chunk=37).tolist() == want.tolist()


def test_tight_clusters_match_float64_brute_force():
    """Clusters of 150 near-duplicates: a pick in a cluster lowers many of the largest stale distances at
    once, so a pick has to bring more than its first 64 candidates up to date (and picks in chunks)."""
    rng = np.random.default_rng(5)
    x = (rng.normal(size=(20, 1, 6)) * 10 + rng.normal(size=(20, 150, 6)) * 1e-3).reshape(-1, 6)
    labelled = np.zeros(len(x), bool)
    labelled[rng.choice(len(x), 3, replace=False)] = True
    got = k_center_greedy(torch.tensor(x, dtype=torch.float32), torch.tensor(labelled), 45, chunk=7)
    assert got.tolist() == brute_force_greedy(x.astype(np.float32), labelled, 45)[0]


def test_non_ieee_matmuls_screen_in_float64(monkeypatch):
    """Under TF32/bf16 float32 matmuls (torch.set_float32_matmul_precision), the screen's error bound
    does not hold: the screen runs in float64 instead, and the picks stay exact."""
    monkeypatch.setattr(torch.backends.mkldnn, "matmul", types.SimpleNamespace(fp32_precision="bf16"))
    assert coreset._screen_dtype(torch.device("cpu")) == torch.float64
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(300, 16)) + 50).astype(np.float32)
    labelled = np.zeros(300, bool)
    labelled[:20] = True
    assert k_center_greedy(torch.tensor(x), torch.tensor(labelled), 15).tolist() == \
        brute_force_greedy(x, labelled, 15)[0]


def test_same_picks_as_scikit_activeml():
    """scikit-activeml's CoreSet on the same features and labelled set. Known differences, avoided here:
    it breaks ties at random (we take the lowest position; continuous data has none); with no labelled
    points every utility is 0 and its first centre is a random draw from its own random_state (ours: the
    rng passed in), so that case is compared from the second pick on, seeding ours with its first; and
    its sklearn distances may order near-ties (relative gaps ~1e-7) differently from our exact ones."""
    CoreSet = pytest.importorskip("skactiveml.pool").CoreSet
    rng = np.random.default_rng(1)
    n = 400
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = np.full(n, np.nan)
    y[rng.choice(n, 30, replace=False)] = 0          # labelled = a label that is not missing
    theirs = CoreSet(random_state=0).query(x, y, batch_size=25)
    ours = k_center_greedy(torch.tensor(x), torch.tensor(~np.isnan(y)), 25)
    assert ours.tolist() == theirs.tolist()
    theirs = CoreSet(random_state=0).query(x, np.full(n, np.nan), batch_size=25)
    ours = k_center_greedy(torch.tensor(x), mask(n, [theirs[0]]), 24)
    assert ours.tolist() == theirs[1:].tolist()


@cuda
def test_cuda_same_picks_as_cpu():
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(3000, 64)) + 1000, dtype=torch.float32)
    labelled = mask(3000, rng.choice(3000, 300, replace=False))
    x[5] = x[7]                                   # a duplicate pair
    cpu = k_center_greedy(x, labelled, 100, chunk=128)
    assert k_center_greedy(x.cuda(), labelled.cuda(), 100, chunk=128).tolist() == cpu.tolist()


@pytest.mark.parametrize("peer", [True, False])
def test_perf_coreset_section_quick(tmp_path, monkeypatch, peer):
    from bench.perf import __main__ as perf

    if not peer:   # scikit-activeml not importable: its column is skipped, albench's still timed
        monkeypatch.setitem(sys.modules, "skactiveml.pool", None)
    res = perf.main(["--quick", "--sections", "coreset", "--device", "cpu", "--json", str(tmp_path / "p.json")])
    c = res["coreset_seconds"]
    assert (c["pool"], c["dim"], c["labelled"], c["k"]) == (2000, 64, 200, 50) and c["albench_cpu"] > 0
    if peer:
        pytest.importorskip("skactiveml")
        assert c["same_picks"] and c["speedup"] == pytest.approx(c["skactiveml_cpu"] / c["albench_cpu"])
    else:
        assert c["skactiveml_cpu"] is None and "speedup" not in c
