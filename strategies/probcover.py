"""ProbCover (Yehuda, Dekel, Hacohen & Weinshall, "Active Learning Through a Covering Lens", NeurIPS 2022),
as the authors' code runs it (avihu111/TypiClust ``deep-al/pycls/al/prob_cover.py``), with its two edge
cases fixed.

Graph: a directed edge x -> y between pool points (labelled + unlabelled) iff ||f_x - f_y|| < delta (self
loops included: a point covers itself). Every point in a labelled point's ball is covered; then B times,
pick the point whose ball holds the most uncovered points (greedy max-coverage) and cover its ball.
delta: given, or the purity rule of the paper: the largest delta such that at least ``alpha`` = 0.95 of
the balls are pure, a ball being pure when all its points share the centre's k-means pseudo-label
(k-means with K = num_classes clusters on the same features).

Fixes of the authors' code: the graph is built over ALL points (theirs iterates ``N // 500`` row blocks,
so the last N mod 500 points get no out-edges); once everything reachable is covered (max degree 0) their
``argmax`` returns position 0, a labelled point; here the remaining picks are uniform random unlabelled
points not yet picked, drawn from ``pool.rng``.

Choices left open, and ours:
- features: ``features="embedding"`` (the classifier's penultimate embedding, "ProbCover-clf"),
  ``features="simclr"`` (SimCLR features of the base training images made by ``albench features``, the paper's
  kind) or a per-dataset ``.npy`` of self-supervised features (strategies/_shared/feature_source.py); L2-normalised with
  ``normalise=True`` as the authors.
- purity rule solved exactly, not on a grid: purity(delta) is the fraction of points whose nearest point
  of another pseudo-label is at distance >= delta, a step function, so delta is the ceil(alpha N)-th
  largest of those distances (scikit-activeml searches the grid 0.2, 0.4, ..., 2.0 with balls <= delta).
  With a single pseudo-label every ball is pure and delta is +inf (one pick covers everything).
- k-means for the pseudo-labels: sklearn ``KMeans``, default ``n_init``, seed from ``pool.rng``.
- ties in the degree argmax go to the lowest position (labelled first, then unlabelled, each sorted), as
  the authors' ``argmax`` (their paper randomises among the top five; their code does not).
Memory: distances in row chunks (``chunk`` x N), edges as a sparse matrix of at most ``max_edges`` edges
(about 5 bytes each): where the delta asked for would pass it, the largest radius that fits is used
instead and the round's diagnostics say so (``delta_capped_from``), never a late crash.
"""
import math

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.cluster import KMeans

from strategies._api import Strategy, register
from strategies._shared.feature_source import (
    EMBEDDING,
    FeatureSourced,
    load_features,
    sq_dists,
)


@torch.no_grad()
def nearest_other_sq(feats: torch.Tensor, pseudo: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Squared distance of each point to its nearest point of another pseudo-label (+inf if none)."""
    pseudo = torch.as_tensor(pseudo, device=feats.device)
    feats = feats - feats.mean(0)  # distances do not move; |a|^2 + |b|^2 - 2ab cancels less
    out = []
    for i in range(0, len(feats), chunk):
        d = sq_dists(feats[i:i + chunk], feats)
        d[pseudo[i:i + chunk, None] == pseudo[None, :]] = float("inf")
        out.append(d.min(1).values.double().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0)


def purity_threshold(nearest_other: np.ndarray, alpha: float = 0.95) -> float:
    """Largest t with mean(nearest_other >= t) >= alpha (balls are open: a point at distance t is out)."""
    n = len(nearest_other)
    need = min(n, max(1, math.ceil(alpha * n - 1e-9)))
    return float(np.sort(nearest_other)[n - need])


@torch.no_grad()
def ball_graph(feats: torch.Tensor, delta_sq: float, chunk: int = 1024, max_edges: int = 10 ** 8):
    """N x N sparse (CSR, int8) adjacency: [x, y] = 1 iff ||f_x - f_y||^2 < delta_sq, for every row."""
    n, indptr, cols, total = len(feats), [np.zeros(1, np.int64)], [], 0
    feats = feats - feats.mean(0)
    for i in range(0, n, chunk):
        block = feats[i:i + chunk]
        rows, c = (sq_dists(block, feats) < delta_sq).nonzero(as_tuple=True)
        counts = torch.bincount(rows, minlength=len(block)).cpu().numpy()
        indptr.append(total + np.cumsum(counts))
        total += len(c)
        if total > max_edges:
            raise ValueError(f"the delta-ball graph passes max_edges={max_edges} edges at row {i} of {n}: "
                             f"delta^2 = {delta_sq:.4g} is too large for this pool (give a smaller delta)")
        cols.append(c.cpu().numpy().astype(np.int32))
    cols = np.concatenate(cols) if cols else np.zeros(0, np.int32)
    return sp.csr_matrix((np.ones(len(cols), np.int8), cols, np.concatenate(indptr)), shape=(n, n))


def capped_graph(feats: torch.Tensor, delta_sq: float, chunk: int = 1024, max_edges: int = 10 ** 8):
    """(graph, delta_sq used): ``ball_graph`` at ``delta_sq``, or, where its edges would pass ``max_edges``,
    at the smaller radius whose graph fits (about 0.9 x max_edges edges, estimated from the distances of
    up to 2,048 evenly spaced rows to all points, shrunk again if the estimate fell short). Memory stays
    within about 5 bytes x max_edges (int32 column + int8 value per edge) on any features, instead of a
    ValueError after the round's training."""
    n = len(feats)
    if n == 0:
        return ball_graph(feats, delta_sq, chunk, max_edges), delta_sq
    rows = torch.as_tensor(np.linspace(0, n - 1, min(n, 2048)).astype(np.int64), device=feats.device)
    centred = feats - feats.mean(0)
    sample = torch.cat([sq_dists(centred[rows[i:i + chunk]], centred) for i in range(0, len(rows), chunk)])
    target = 0.9 * max_edges / float(n) ** 2
    while True:
        if float((sample < delta_sq).double().mean()) > target:
            delta_sq = float(torch.quantile(sample.flatten()[:2 ** 24].double(), target))
        try:
            return ball_graph(feats, delta_sq, chunk, max_edges), delta_sq
        except ValueError:   # the sample's estimate fell short: shrink further
            target /= 2


def covered_by(graph, sources) -> np.ndarray:
    """Boolean mask of the points inside the ball of any of ``sources`` (positions)."""
    covered = np.zeros(graph.shape[0], bool)
    covered[graph[np.asarray(sources, np.int64)].indices] = True
    return covered


def coverage_degrees(graph, covered: np.ndarray) -> np.ndarray:
    """For every point, how many uncovered points its ball holds (its out-degree after removing covered)."""
    return np.asarray(graph @ (~covered).astype(np.int64)).ravel()


def max_coverage_greedy(graph, labelled_mask: np.ndarray, k: int, rng: np.random.Generator):
    """(picks, number drawn at random after full coverage, final covered fraction): greedy max-coverage."""
    free = ~np.asarray(labelled_mask, bool)
    k = min(int(k), int(free.sum()))
    covered = covered_by(graph, np.flatnonzero(~free))
    degrees, incoming, picks = coverage_degrees(graph, covered), graph.T.tocsr(), []
    while len(picks) < k:
        j = int(np.argmax(degrees))
        if degrees[j] <= 0:
            break
        assert free[j], "a labelled or picked point cannot cover anything new"
        ball = graph.indices[graph.indptr[j]:graph.indptr[j + 1]]
        new = ball[~covered[ball]]
        covered[new] = True
        degrees -= np.bincount(incoming[new].indices, minlength=len(degrees))
        picks.append(j)
        free[j] = False
    n_random = k - len(picks)
    if n_random:
        picks.extend(rng.choice(np.flatnonzero(free), n_random, replace=False).tolist())
    return np.asarray(picks, dtype=np.int64), n_random, float(covered.mean()) if len(covered) else 1.0


@register("probcover")
class ProbCover(FeatureSourced, Strategy):
    def __init__(self, features: str = EMBEDDING, normalise: bool = True, delta: float = None,
                 alpha: float = 0.95, chunk: int = 1024, max_edges: int = 10 ** 8):
        self.features = features    # "embedding", a named set ("simclr": albench features) or a .npy path
        self.normalise = normalise  # L2-normalise the features (authors: yes)
        self.delta = delta          # ball radius; None: the purity rule with alpha
        self.alpha = alpha          # purity the largest delta must keep (paper: 0.95)
        self.chunk = chunk          # rows per distance chunk (memory: chunk x pool floats)
        self.max_edges = max_edges  # refuse a graph larger than this (memory)

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        everything = np.concatenate([pool.labelled, pool.unlabelled])
        feats = load_features(pool, everything, self.source, self.normalise)
        diag = {}
        if self.delta is None:
            n_clusters = min(pool.num_classes, len(everything))
            km = KMeans(n_clusters=n_clusters, random_state=int(pool.rng.integers(2 ** 31 - 1)))
            nearest = nearest_other_sq(feats, km.fit_predict(feats.cpu().numpy()), self.chunk)
            delta_sq = purity_threshold(nearest, self.alpha)
            diag["purity"] = float((nearest >= delta_sq).mean())
        else:
            delta_sq = float(self.delta) ** 2
        wanted = delta_sq
        graph, delta_sq = capped_graph(feats, delta_sq, self.chunk, self.max_edges)
        if delta_sq != wanted:   # the radius the purity rule (or delta=) asked for would not fit max_edges
            diag["delta_capped_from"] = math.sqrt(wanted) if math.isfinite(wanted) else float("inf")
        labelled_mask = np.arange(len(everything)) < len(pool.labelled)
        picks, n_random, coverage = max_coverage_greedy(graph, labelled_mask, k, pool.rng)
        self.diagnostics_ = {**diag, "delta": math.sqrt(delta_sq), "edges": int(graph.nnz),
                             "coverage": coverage, "uniform_fallback_picks": int(n_random)}
        return everything[picks]
