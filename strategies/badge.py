"""BADGE (Ash, Zhang, Krishnamurthy, Langford & Agarwal, "Deep Batch Active Learning by Diverse, Uncertain
Gradient Lower Bounds", ICLR 2020; authors' code JordanAsh/badge ``query_strategies/badge_sampling.py``).

Each unlabelled x gets the gradient of the cross-entropy at its hypothetical label ŷ = argmax p(x) with
respect to the last layer's weights, g_x = (p(x) - e_ŷ) ⊗ h(x) (h the penultimate embedding; the authors
store the negated vector, the sign changes no distance), and the batch is the k-means++ seeding of
{g_x}: the first centre is the point of largest ||g_x||, each next one is drawn with probability
proportional to D(x)^2, its squared distance to the nearest centre chosen so far. No Lloyd iterations.

The K*D vector is never built: ||g_x - g_y||^2 = ||q_x||^2 ||h_x||^2 + ||q_y||^2 ||h_y||^2
- 2 (q_x.q_y)(h_x.h_y) with q = p - e_ŷ (the authors' current code and LabelBench use the same identity),
so memory is O(N (K + D)) and one centre costs two matrix-vector products.

Choices the paper leaves open, and ours:
- probabilities and ŷ come from the embedding through the last layer (``pool.last_layer()``) in float64,
  so p, ŷ and h are consistent with one another; no bias gradient (as the authors).
- candidates are the unlabelled pool only; labelled points are not centres (as the authors).
- ties for the first centre go to the lowest position; the D^2 draw is one uniform number from
  ``pool.rng`` per centre, inverted through the cumulative D^2 (points with D^2 = 0, among them every
  chosen centre, cannot be drawn).
- when every remaining D^2 is 0 (all gradients zero: fully confident predictions; or every remaining
  point duplicates a centre), the remaining picks are drawn uniformly without replacement from the
  unchosen points with ``pool.rng`` (the authors' DeepAL+ copy stops in a debugger there).
"""
import numpy as np
import torch

from strategies import register
from strategies.base import Strategy


@torch.no_grad()
def gradient_factors(emb: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
    """(q, h): q = p - onehot(argmax p) (N x K, float64) and h = emb (N x D, float32), with
    p = softmax(emb W^T + b); the gradient embedding is their outer product, row by row."""
    logits = emb.double() @ weight.double().T + bias.double()
    q = torch.softmax(logits, dim=1)
    q[torch.arange(len(q), device=q.device), logits.argmax(1)] -= 1
    return q, emb.float()


@torch.no_grad()
def gradient_sq_norms(q: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """||g_x||^2 = ||q_x||^2 ||h_x||^2 for every row (float64)."""
    return q.pow(2).sum(1) * h.pow(2).sum(1).double()


@torch.no_grad()
def gradient_sq_distances(q: torch.Tensor, h: torch.Tensor, j: int, sq_norms=None) -> torch.Tensor:
    """||g_x - g_j||^2 for every row x, from the factors only (float64, clamped at 0)."""
    sq_norms = gradient_sq_norms(q, h) if sq_norms is None else sq_norms
    cross = (q @ q[j]) * (h @ h[j]).double()
    return (sq_norms + sq_norms[j] - 2 * cross).clamp_min_(0)


@torch.no_grad()
def badge_kmeans_pp(q: torch.Tensor, h: torch.Tensor, k: int, rng: np.random.Generator):
    """Positions (int64 numpy) of ``k`` distinct k-means++ seeds on the gradient embeddings (q ⊗ h) and
    how many of them were drawn uniformly because no D^2 was left (0 unless gradients vanish)."""
    n = len(q)
    k = min(int(k), n)
    sq_norms = gradient_sq_norms(q, h)
    chosen = torch.zeros(n, dtype=torch.bool, device=q.device)
    picks = []
    if k > 0 and float(sq_norms.max()) > 0:
        picks.append(int(sq_norms.argmax()))
        chosen[picks[0]] = True
        d2 = gradient_sq_distances(q, h, picks[0], sq_norms)
        d2[chosen] = 0
        while len(picks) < k:
            total = float(d2.sum())
            if total <= 0:
                break
            cum = torch.cumsum(d2, 0)
            j = int(torch.searchsorted(cum, torch.tensor([rng.random() * total], dtype=cum.dtype,
                                                        device=cum.device), right=True).clamp_max(n - 1))
            picks.append(j)
            chosen[j] = True
            d2 = torch.minimum(d2, gradient_sq_distances(q, h, j, sq_norms))
            d2[chosen] = 0
    n_random = k - len(picks)
    if n_random:
        rest = np.flatnonzero(~chosen.cpu().numpy())
        picks.extend(rng.choice(rest, n_random, replace=False).tolist())
    return np.asarray(picks, dtype=np.int64), n_random


@register("badge")
class BADGE(Strategy):
    """BADGE on the scoring model's penultimate embedding and last linear layer; no hyper-parameters."""

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        idx = pool.unlabelled
        q, h = gradient_factors(pool.embeddings(idx), *pool.last_layer())
        picks, n_random = badge_kmeans_pp(q, h, k, pool.rng)
        self.diagnostics_ = {"max_gradient_norm": float(gradient_sq_norms(q, h).max().sqrt()),
                             "uniform_fallback_picks": int(n_random)}
        return idx[picks]
