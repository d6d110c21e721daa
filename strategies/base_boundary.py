"""BASE, Balanced Selection (Emam, Chu, Chiang, Czaja, Leapman, Goldblum & Goldstein, "Active Learning at
the ImageNet Scale", arXiv 2111.12880, 2021; authors' code zeyademam/active_learning
``src/query_strategies/base_sampler.py`` and ``mase_sampler.py``). Registered as ``base``; the module is
not ``base.py`` because that name holds the Strategy base class.

In the space of the penultimate embedding h, the last linear layer's boundary between the predicted class
ŷ and a class c is the hyperplane (w_ŷ - w_c).h + (b_ŷ - b_c) = 0, and the distance of h to it is
  d_c(x) = |(w_ŷ - w_c).h + (b_ŷ - b_c)| / ||w_ŷ - w_c||   (= (z_ŷ - z_c) / ||w_ŷ - w_c||, z the logits)
(the authors compute the same as the norm of the minimum perturbation that ties the two logits). Class c's
score of x is d_c(x) if ŷ(x) != c, and min_c' d_c'(x) (the nearest boundary) if ŷ(x) = c. Every class
gets an equal quota of the budget, filled with the unlabelled points of smallest score, never twice.

Choices the paper leaves open, and ours:
- quota: floor(B / K) per class, and one more for the first B mod K classes in class-index order (as the
  authors' code).
- ``order="round_robin"`` (default): classes take turns, one point per turn, so no class has first claim
  on a point near two boundaries. ``order="sequential"`` is the authors' code: class 0 fills its whole
  quota, then class 1, and so on. Both differ only on points among the nearest of two classes.
- a pair with w_ŷ = w_c has no boundary in embedding space: its distance is +inf (the authors map the NaN
  to +inf).
- ties (equal distances, inf included) are broken by one random permutation drawn from ``pool.rng``.
- logits are recomputed from the embedding through ``pool.last_layer()`` in float64.
"""
import numpy as np
import torch

from strategies._api import Strategy, register


@torch.no_grad()
def boundary_distances(emb: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
    """(dist N x K float64, pred N): dist[x, c] = distance of emb[x] to the boundary between its predicted
    class and c; +inf at c = pred[x] and where the two weight rows are equal."""
    w, emb = weight.double(), emb.double()
    logits = emb @ w.T + bias.double()
    pred = logits.argmax(1)
    pair_norm = torch.cdist(w, w, compute_mode="donot_use_mm_for_euclid_dist")  # K x K, ||w_i - w_j||
    margin = logits.gather(1, pred[:, None]) - logits                  # z_ŷ - z_c >= 0
    norm = pair_norm[pred]
    dist = torch.where(norm > 0, margin / norm.clamp_min(1e-300), torch.full_like(margin, float("inf")))
    dist[torch.arange(len(pred), device=pred.device), pred] = float("inf")
    return dist, pred


def class_scores(dist: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """N x K: column c is d_c(x), or the nearest-boundary distance for the points predicted as c."""
    scores = np.array(dist, dtype=np.float64, copy=True)
    rows = np.arange(len(scores))
    scores[rows, pred] = dist.min(axis=1) if dist.shape[1] else 0.0
    return scores


def class_quotas(budget: int, num_classes: int) -> np.ndarray:
    return np.array([budget // num_classes + int(c < budget % num_classes) for c in range(num_classes)])


def balanced_select(scores: np.ndarray, budget: int, rng: np.random.Generator, order: str = "round_robin"):
    """Positions (int64) of ``budget`` distinct rows: each class c its quota of the smallest ``scores[:, c]``."""
    n, num_classes = scores.shape
    budget = min(int(budget), n)
    perm = rng.permutation(n)                                          # random ties under a stable sort
    ranked = perm[np.argsort(scores[perm], axis=0, kind="stable")].T   # K x N: class c's candidates, nearest first
    quota, taken, cursor = class_quotas(budget, num_classes), np.zeros(n, bool), np.zeros(num_classes, int)
    picks = []
    if order == "round_robin":
        turns = [c for t in range(quota.max(initial=0)) for c in range(num_classes) if t < quota[c]]
    elif order == "sequential":
        turns = [c for c in range(num_classes) for _ in range(quota[c])]
    else:
        raise ValueError(f"order must be 'round_robin' or 'sequential', got {order!r}")
    for c in turns:
        while taken[ranked[c, cursor[c]]]:
            cursor[c] += 1
        picks.append(ranked[c, cursor[c]])
        taken[picks[-1]] = True
    return np.asarray(picks, dtype=np.int64)


@register("base")
class BASE(Strategy):
    def __init__(self, order: str = "round_robin"):
        self.order = order  # "round_robin" (one point per class per turn) or "sequential" (authors' code)

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        idx = pool.unlabelled
        if k == 0:  # nothing left to label
            return idx[:0].astype(np.int64)
        dist, pred = boundary_distances(pool.embeddings(idx), *pool.last_layer())
        dist, pred = dist.cpu().numpy(), pred.cpu().numpy()
        picks = balanced_select(class_scores(dist, pred), k, pool.rng, self.order)
        self.diagnostics_ = {"quota": class_quotas(k, dist.shape[1]).tolist(),
                             "predicted_counts": np.bincount(pred[picks], minlength=dist.shape[1]).tolist()}
        return idx[picks]
