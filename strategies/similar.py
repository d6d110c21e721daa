"""SIMILAR (Kothawade, Beck, Killamsetty & Iyer, "SIMILAR: Submodular Information Measures Based Active Learning
in Realistic Scenarios", NeurIPS 2021): a batch A of unlabelled images that maximises a submodular mutual
information I_f(A; Q) with a query set Q of labelled images of the rare classes, chosen greedily.

Variants (the two that need no pool x pool kernel; memory O(N |Q|)):
- ``similar`` (FL2MI, the GALAXY authors' default): I(A; Q) = sum_q max_a s(q, a) + eta sum_a max_q s(a, q);
  the greedy gain of a is sum_q max(s(q, a) - c_q, 0) + eta max_q s(a, q), c_q = max over A so far (0 at first);
- ``similar_gcmi`` (graph-cut MI): I(A; Q) = 2 lambda sum_a sum_q s(a, q), modular, so the greedy batch is the
  top ``budget`` images by their summed similarity to Q.
Choices left open, and ours:
- The rare classes (the experimenter's choice in the paper and in DISTIL): classes whose labelled count is below
  the median labelled count; when none is (equal counts), every class but the most frequent; Q = their labelled
  images. Which classes were rare, and |Q|, go into the round's diagnostics.
- s = cosine similarity of L2-normalised features (DISTIL's ``metric="cosine"``): the classifier's penultimate
  embedding by default (DISTIL uses BADGE's gradient embedding, (D + 1) K wide), or a named or file feature set
  as for TypiClust; eta = 1 and lambda = 1 (DISTIL's defaults); ties broken at random (``pool.rng``).
- With no rare class labelled (Q empty) every gain is 0: the batch is drawn at random, said in the diagnostics.
"""
import numpy as np
import torch

from strategies._api import Strategy, random_argmax, register, top_k
from strategies._shared.feature_source import (
    EMBEDDING,
    FeatureSourced,
    load_features,
)

FUNCTIONS = ("fl2mi", "gcmi")


def rare_classes(counts: np.ndarray) -> np.ndarray:
    """Classes whose labelled count is below the median; with none, every class but the most frequent."""
    counts = np.asarray(counts)
    rare = np.flatnonzero(counts < np.median(counts))
    return rare if len(rare) else np.setdiff1d(np.arange(len(counts)), [int(np.argmax(counts))])


def fl2mi_greedy(sim: torch.Tensor, budget: int, eta: float, rng: np.random.Generator, block: int = 64):
    """Greedy FL2MI picks (rows of ``sim``, unlabelled x query) and each pick's gain.

    Lazy (Minoux's accelerated greedy): a row's gain only falls as the cover grows, in floating point too (each
    term max(s - c, 0) falls as c rises and a row is summed in the same order every time), so the gain a row
    had at an earlier pick bounds it from above. A pick recomputes the rows with the highest bounds, ``block``
    at a time, until every other row's bound lies below the best gain recomputed; the rows tied at it are then
    all among those recomputed and one is drawn as ``random_argmax`` draws it. On the CPU the picks and gains
    are those of recomputing every row at every pick (a test compares them), because torch sums each row of a
    contiguous matrix alone, in one order, whatever the rows around it; ``sim`` is made contiguous, and a batch
    is never one row (a lone row of 32,768 or more columns is summed across threads, in another order). A GPU
    splits a reduction by the shape of the whole batch, so there every pick recomputes every row (exact, and
    cheap there). 500 picks from a 49,500 x 1,500 kernel of clustered features, one CPU thread: 7.2 s, against
    ~170 s recomputing every row (60 picks timed)."""
    sim = sim.contiguous()
    n = len(sim)
    if sim.device.type != "cpu":
        block = max(block, n)
    cover = torch.zeros(sim.shape[1], dtype=sim.dtype, device=sim.device)
    best_q = sim.max(1).values if sim.shape[1] else torch.zeros(n, dtype=sim.dtype, device=sim.device)
    bonus = eta * best_q

    def gain(rows=None):   # None: every row
        if rows is not None and len(rows) == 1 < n:   # summed as one of two rows, as every row of the first pass was
            return gain(rows.repeat(2))[:1]
        part, extra = (sim, bonus) if rows is None else (sim[rows], bonus[rows])
        return (part - cover.unsqueeze(0)).clamp_min(0).sum(1) + extra

    bound = gain()
    picks, gains = [], []
    for t in range(min(budget, n)):
        order = torch.argsort(bound, descending=True, stable=True)[:n - t]   # the rows not chosen yet
        lo, best = 0, None
        while lo < len(order) and (best is None or bound[order[lo]] >= best):
            rows = order[lo:lo + block * 2 ** min(lo // block, 10)]
            bound[rows] = gain(rows)
            top = bound[rows].max()
            best = top if best is None else torch.maximum(best, top)
            lo += len(rows)
        values = torch.full_like(bound, float("-inf"))
        values[order[:lo]] = bound[order[:lo]]
        pick = random_argmax(values, rng)
        picks.append(pick)
        gains.append(float(bound[pick]))
        bound[pick] = float("-inf")
        cover = torch.maximum(cover, sim[pick])
    return np.asarray(picks, np.int64), gains


@register("similar")
class Similar(FeatureSourced, Strategy):
    def __init__(self, function: str = "fl2mi", eta: float = 1.0, features: str = EMBEDDING):
        self.function = function   # fl2mi (facility-location variant MI) or gcmi (graph-cut MI)
        self.eta = eta             # FL2MI's weight of the query-coverage term (DISTIL: 1)
        self.features = features   # "embedding", a named set ("simclr") or a .npy path

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        if self.function not in FUNCTIONS:
            raise ValueError(f"function must be one of {FUNCTIONS}, got {self.function!r}")
        counts = np.bincount(pool.labelled_labels, minlength=pool.num_classes)
        rare = rare_classes(counts)
        query = pool.labelled[np.isin(pool.labelled_labels, rare)]
        self.diagnostics_ = {"rare_classes": rare.tolist(), "query_size": int(len(query))}
        if len(query) == 0:
            self.diagnostics_["random_no_query"] = True
            return pool.rng.choice(pool.unlabelled, k, replace=False)
        source = self.source
        unl = load_features(pool, pool.unlabelled, source, normalise=True)
        sim = unl @ load_features(pool, query, source, normalise=True).T
        if self.function == "gcmi":
            return pool.unlabelled[top_k(sim.sum(1).double().cpu().numpy(), k, pool.rng)]
        picks, gains = fl2mi_greedy(sim, k, self.eta, pool.rng)
        self.diagnostics_.update(first_gain=gains[0], last_gain=gains[-1])
        return pool.unlabelled[picks]


@register("similar_gcmi")
class SimilarGCMI(Similar):
    def __init__(self, function: str = "gcmi", eta: float = 1.0, features: str = EMBEDDING):
        super().__init__(function, eta, features)
