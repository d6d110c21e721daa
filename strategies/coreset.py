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
Memory: distances to the labelled centres (and, where stale, to the picks) are computed in chunks of at
most ``chunk`` centres against the pool: never a pool x pool matrix. The greedy step is google's
kCenterGreedy made lazy: a point's stale distance is an upper bound, so a pick refreshes only the largest few.
"""
import numpy as np
import torch

from strategies._api import Strategy, register


@torch.no_grad()
def k_center_greedy(feats: torch.Tensor, labelled_mask: torch.Tensor, k: int, rng=None, chunk: int = 256):
    """Positions (int64 numpy) of ``k`` unlabelled points chosen greedily to minimise the largest distance
    from any point to its nearest centre; the ``labelled_mask`` points are the initial centres.

    Never returns a labelled or a repeated position; ties (e.g. duplicates at distance 0) go to the lowest
    position. The picks are those of exact float64 farthest-first on ``feats``: float32 matrix products on
    mean-centred features only screen which distances can change, and every distance the screen cannot
    rule out is recomputed from the differences of the original features in float64. A point's distance
    to its nearest centre only shrinks as centres are added, so a stale one is an upper bound: each pick
    brings only the largest few up to date, until one of them beats every other bound."""
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
    # d2_i: the exact squared distance to the nearest of the labelled and the first t_i picks (centres: -inf)
    d2 = torch.full((n,), float("inf"), dtype=torch.float64, device=dev)
    d2[labelled_mask] = -float("inf")
    t = torch.zeros(n, dtype=torch.long, device=dev)

    def lower(rows, centres):   # d2[rows] (None: all) with ``centres``, ``chunk`` of them at a time
        xr, sr = (x, sq) if rows is None else (x.index_select(0, rows), sq[rows])
        rows = torch.arange(n, device=dev) if rows is None else rows
        for i in range(0, len(centres), chunk):
            c = centres[i:i + chunk]
            screen = torch.addmm(sq[c], xr, x.index_select(0, c).T, alpha=-2).add_(sr[:, None])
            _lower(d2, feats, screen, rows, c, slack * (sr.double() + float(sq[c].max())))

    labelled = torch.nonzero(labelled_mask).flatten()
    lower(None, labelled)
    picks = torch.empty(k, dtype=torch.long, device=dev)
    for j in range(k):
        if j == 0 and len(labelled) == 0:
            rng = rng if rng is not None else np.random.default_rng(0)
            idx = int(rng.integers(n))
        else:
            idx, b = None, 64
            while idx is None:   # the b largest bounds up to date; done if the best beats the (b+1)-th bound
                bounds, rows = torch.topk(d2, min(b + 1, n))
                rest, rows = (float(bounds[b]) if b < n else -float("inf")), rows[:b]
                since = int(t[rows].min())
                if since < j:
                    lower(rows, picks[since:j])
                    t[rows] = j
                best = d2[rows].max()
                if best > rest or b >= n:
                    idx = int(rows[d2[rows] == best].min())   # ties: the lowest position
                b *= 4
        picks[j] = idx
        d2[idx] = -float("inf")
    return picks.cpu().numpy().astype(np.int64)


def _lower(d2, feats, screen, rows, centres, tol):
    """Lower ``d2[rows]`` (exact squared distances to the nearest centre so far) with ``centres``.
    ``screen`` (len(rows) x len(centres)) holds their squared distances to within ``tol`` (per row); a pair
    is computed exactly unless its screened value shows it cannot go below the row's current ``d2``."""
    best, arg = screen.amin(1), screen.argmin(1)   # not min(1): parallel even when tiny
    hit = torch.nonzero(best < (d2[rows] + tol).to(screen.dtype)).flatten()
    _scatter_exact(d2, feats, rows[hit], centres[arg[hit]])
    near = screen < (d2[rows] + tol).to(screen.dtype)[:, None]   # near-ties with the nearest screened one
    near[hit, arg[hit]] = False
    r, c = near.nonzero().unbind(1)
    _scatter_exact(d2, feats, rows[r], centres[c])


def _scatter_exact(d2, feats, rows, cols, elements=1 << 22):
    """d2[rows] = min(d2[rows], |feats[rows] - feats[cols]|^2) in float64, a block of rows at a time."""
    step = max(1, elements // feats.shape[1])
    for s in range(0, len(rows), step):
        r, c = rows[s:s + step], cols[s:s + step]
        diff = feats.index_select(0, r).double() - feats.index_select(0, c).double()
        d2.scatter_reduce_(0, r, diff.pow_(2).sum(1), "amin")


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
    select_cost_depends_on = frozenset({"classifier", "images"})   # embeddings, then k-center greedy

    def __init__(self, layer: str = "embedding", chunk: int = 256):
        self.layer = layer    # "embedding", or 1..4 for a residual block's pooled output
        self.chunk = chunk    # centres per distance chunk (memory: pool x chunk floats)

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
