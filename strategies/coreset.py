"""CoreSet (Sener & Savarese, "Active Learning for Convolutional Neural Networks: A Core-Set Approach",
ICLR 2018): the k-center greedy approximation on the classifier's embedding, as VaB-AL Sec. 4.2 runs it.

Choices the papers leave open, and ours:
- features: the penultimate embedding (pooled output of the last residual block); ``layer=1..4`` takes
  the globally pooled output of another residual block instead.
- distance: Euclidean (the greedy picks are the same for squared distances).
- initial centres: the labelled pool; with an empty labelled pool the first centre is drawn at random
  with the pool's Generator.
- ties in the farthest-point step go to the lowest position (deterministic); labelled and picked points
  are never candidates again, even when every remaining point is at distance 0 (duplicates).
- precision: the picks are exact (float64) farthest-first; float32 products on mean-centred features only
  screen which distances can change (the raw |a|^2+|b|^2-2ab cancels away distances under a large offset).
- no robust (outlier-budget MIP) stage: Sener & Savarese's main results and google's kCenterGreedy use the
  greedy step alone.
Memory: the min-distance vector is updated one centre at a time (one matrix-vector product), and the
initial distances to the labelled centres in chunks of at most ``chunk`` centres: never a pool x pool matrix.
"""
import numpy as np
import torch

from strategies import register
from strategies.base import Strategy


@torch.no_grad()
def k_center_greedy(feats: torch.Tensor, labelled_mask: torch.Tensor, k: int, rng=None, chunk: int = 256):
    """Positions (int64 numpy) of ``k`` unlabelled points chosen greedily to minimise the largest distance
    from any point to its nearest centre; the ``labelled_mask`` points are the initial centres.

    Never returns a labelled or a repeated position; ties (e.g. duplicates at distance 0) go to the lowest
    position. The picks are those of exact float64 farthest-first on ``feats``: float32 matrix products on
    mean-centred features only screen which distances can change, and every distance the screen cannot
    rule out is recomputed from the differences of the original features in float64."""
    n, dim = feats.shape
    dev = feats.device
    labelled_mask = torch.as_tensor(labelled_mask, dtype=torch.bool, device=dev)
    k = int(k)
    if k > n - int(labelled_mask.sum()):
        raise ValueError(f"k={k} but only {n - int(labelled_mask.sum())} unlabelled points")
    x = _centred(feats, _screen_dtype(dev))
    sq = x.pow(2).sum(1)
    # |screened - exact squared distance| <= slack * (|x_i|^2 + |x_c|^2): the dot product and the norms
    # (gamma_dim each), the three additions, the centring's rounding and the threshold's cast, with margin
    slack = (2 * dim + 32) * torch.finfo(x.dtype).eps
    sq_tol = slack * sq.double()
    d2 = torch.full((n,), float("inf"), dtype=torch.float64, device=dev)  # exact squared min distances
    d2[labelled_mask] = -float("inf")                                   # centres: never picked again
    centres = torch.nonzero(labelled_mask).flatten()
    for i in range(0, len(centres), chunk):
        c = centres[i:i + chunk]
        screen = torch.addmm(sq[c], x, x[c].T, alpha=-2).add_(sq[:, None])
        _lower(d2, feats, screen, c, sq_tol + slack * float(sq[c].max()))
    # one centre at a time: |x_i - c|^2 can only go below d2_i if |x_i|^2 - 2 x_i.c - (d2_i + tol_i) is
    # below (slack - 1) |c|^2, one matrix-vector product; those rows are recomputed exactly
    gap = sq - (d2 + sq_tol).to(x.dtype)
    picks = torch.empty(k, dtype=torch.long, device=dev)
    for j in range(k):
        if j == 0 and len(centres) == 0:
            rng = rng if rng is not None else np.random.default_rng(0)
            idx = torch.tensor([int(rng.integers(n))], device=dev)
        else:
            idx = torch.argmax(d2).reshape(1)
        picks[j] = idx[0]
        d2[idx], gap[idx] = -float("inf"), float("inf")
        rows = torch.nonzero(torch.addmv(gap, x, x[idx[0]], alpha=-2) < (slack - 1) * sq[idx]).flatten()
        _scatter_exact(d2, feats, rows, idx.expand(len(rows)))
        gap[rows] = sq[rows] - (d2[rows] + sq_tol[rows]).to(x.dtype)
    return picks.cpu().numpy().astype(np.int64)


def _lower(d2, feats, screen, centres, tol):
    """Lower ``d2`` (exact squared distances to the nearest centre so far) with ``centres``. ``screen``
    (n x len(centres)) holds their squared distances to within ``tol`` (per row); a pair is computed
    exactly unless its screened value shows it cannot go below the row's current ``d2``."""
    best, arg = screen.min(1)
    rows = torch.nonzero(best < (d2 + tol).to(screen.dtype)).flatten()
    _scatter_exact(d2, feats, rows, centres[arg[rows]])
    near = screen < (d2 + tol).to(screen.dtype)[:, None]   # near-ties with the nearest screened centre
    near[rows, arg[rows]] = False
    r, c = near.nonzero().unbind(1)
    _scatter_exact(d2, feats, r, centres[c])


def _scatter_exact(d2, feats, rows, cols, elements=1 << 22):
    """d2[rows] = min(d2[rows], |feats[rows] - feats[cols]|^2) in float64, a block of rows at a time."""
    step = max(1, elements // feats.shape[1])
    for s in range(0, len(rows), step):
        r, c = rows[s:s + step], cols[s:s + step]
        d2.scatter_reduce_(0, r, (feats[r].double() - feats[c].double()).pow_(2).sum(1), "amin")


def _centred(feats, dtype, elements=1 << 22):
    """``feats`` minus their mean, the subtraction in float64, stored as ``dtype``: with a large shared
    offset, |a|^2 + |b|^2 - 2ab on the raw features would cancel away the distances."""
    mean = feats.sum(0, dtype=torch.float64) / len(feats)
    out = torch.empty(feats.shape, dtype=dtype, device=feats.device)
    step = max(1, elements // feats.shape[1])
    for s in range(0, len(feats), step):
        out[s:s + step] = feats[s:s + step].double() - mean
    return out


def _screen_dtype(device):
    """float32 where float32 matrix products are IEEE (torch's default); float64 where they were set to
    TF32/bf16 (``torch.set_float32_matmul_precision``), whose error the screen's bound does not cover."""
    backend = torch.backends.cuda.matmul if device.type == "cuda" else torch.backends.mkldnn.matmul
    return torch.float32 if getattr(backend, "fp32_precision", "none") in ("none", "ieee") else torch.float64


@register("coreset")
class CoreSet(Strategy):
    def __init__(self, layer: str = "embedding", chunk: int = 256):
        self.layer = layer    # "embedding", or 1..4 for a residual block's pooled output
        self.chunk = chunk    # labelled centres per distance chunk (memory: pool x chunk floats)

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        everything = np.concatenate([pool.labelled, pool.unlabelled])
        if self.layer == "embedding":
            feats = pool.embeddings(everything)
        else:
            feats = pool.pooled_features(everything)[int(self.layer) - 1]
        mask = torch.zeros(len(everything), dtype=torch.bool, device=feats.device)
        mask[:len(pool.labelled)] = True
        picks = k_center_greedy(feats, mask, k, pool.rng, self.chunk)
        return everything[picks]
