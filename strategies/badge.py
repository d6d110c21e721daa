"""BADGE (Ash, Zhang, Krishnamurthy, Langford & Agarwal, "Deep Batch Active Learning by Diverse, Uncertain
Gradient Lower Bounds", ICLR 2020; authors' code JordanAsh/badge ``query_strategies/badge_sampling.py``).

Each unlabelled x gets the gradient of the cross-entropy at its hypothetical label ŷ = argmax p(x) with
respect to the last layer's weights, g_x = (p(x) - e_ŷ) ⊗ h(x) (h the penultimate embedding; the authors
store the negated vector, the sign changes no distance), and the batch is the k-means++ seeding of
{g_x}: the first centre is the point of largest ||g_x||, each next one is drawn with probability
proportional to D(x)^2, its squared distance to the nearest centre chosen so far. No Lloyd iterations.

The K*D vector is never built: ||g_x - g_y||^2 = ||q_x||^2 ||h_x||^2 + ||q_y||^2 ||h_y||^2
- 2 (q_x.q_y)(h_x.h_y) with q = p - e_ŷ (the authors' current code and LabelBench use the same identity),
so memory is O(N (K + D)) and time O(B N (K + D)).

Choices the paper leaves open, and ours:
- probabilities and ŷ come from the embedding through the last layer (``pool.last_layer()``) in float64,
  so p, ŷ and h are consistent with one another (q = p - e_ŷ is then kept in float32); no bias gradient
  (as the authors).
- candidates are the unlabelled pool only; labelled points are not centres (as the authors).
- ties for the first centre go to the lowest position; draws use uniforms from ``pool.rng`` inverted
  through cumulative weights (a point of weight 0, among them every chosen centre, cannot be drawn).
- the D^2 draw is exact but lazy (``badge_kmeans_pp``): proposals come from a stale upper bound on D^2
  and are accepted with probability D^2 / bound, the bound being refreshed for all points in one matrix
  product every ``refresh_every`` = 32 centres: one pass over the N x D embedding per 32 centres instead
  of one per centre (the bottleneck on a CPU). The picks follow the k-means++ distribution exactly, but
  the random stream differs from the textbook draw; ``refresh_every=1`` is the textbook draw.
- when every remaining D^2 is 0 (all gradients zero: fully confident predictions; or every remaining
  point duplicates a centre), the remaining picks are drawn uniformly without replacement from the
  unchosen points with ``pool.rng`` (DeepAL+'s copy of BADGE stops in a debugger there).
"""
import numpy as np
import torch

from strategies._api import Strategy, register


@torch.no_grad()
def gradient_factors(emb: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
    """(q, h): q = p - onehot(argmax p) (N x K) and h = emb (N x D), both float32 (products are
    accumulated in float64 where they meet), with p = softmax(emb W^T + b) computed in float64; the
    gradient embedding is their outer product, row by row."""
    logits = emb.double() @ weight.double().T + bias.double()
    q = torch.softmax(logits, dim=1)
    q[torch.arange(len(q), device=q.device), logits.argmax(1)] -= 1
    return q.float(), emb.float()


@torch.no_grad()
def gradient_sq_norms(q: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """||g_x||^2 = ||q_x||^2 ||h_x||^2 for every row (float64)."""
    return q.double().pow(2).sum(1) * h.pow(2).sum(1).double()


@torch.no_grad()
def gradient_sq_distances(q: torch.Tensor, h: torch.Tensor, centres, sq_norms=None) -> torch.Tensor:
    """||g_x - g_c||^2 from the factors only (float64, clamped at 0): a vector over rows x for one centre
    position ``centres``, or an N x m matrix for a list of m centre positions."""
    sq_norms = gradient_sq_norms(q, h) if sq_norms is None else sq_norms
    if isinstance(centres, int):
        return gradient_sq_distances(q, h, [centres], sq_norms)[:, 0]
    return _pair_sq_distances(q, h, sq_norms, q[centres], h[centres], sq_norms[centres])


def _pair_sq_distances(qa, ha, na, qb, hb, nb) -> torch.Tensor:
    """len(a) x len(b) squared distances of the gradient embeddings, from factors and squared norms."""
    cross = (qa @ qb.T).double() * (ha @ hb.T).double()
    return (na[:, None] + nb[None, :] - 2 * cross).clamp_min_(0)


def _draw(weights: torch.Tensor, u: float) -> int:
    """The position where u * sum(weights) falls in the cumulative weights (a zero weight is never hit)."""
    cum = torch.cumsum(weights, 0)
    at = torch.tensor([u * float(cum[-1])], dtype=cum.dtype, device=cum.device)
    return int(torch.searchsorted(cum, at, right=True).clamp_max(len(cum) - 1))


@torch.no_grad()
def badge_kmeans_pp(q: torch.Tensor, h: torch.Tensor, k: int, rng: np.random.Generator,
                    refresh_every: int = 32, max_rejections: int = 4):
    """Positions (int64 numpy) of ``k`` distinct k-means++ seeds on the gradient embeddings (q ⊗ h) and
    how many of them were drawn uniformly because no D^2 was left (0 unless gradients vanish).

    The D^2 draw is exact but lazy: D^2 only shrinks as centres are added, so a stale ``bound`` >= D^2 is a
    valid proposal; a point drawn from it has its D^2 brought up to date against the centres added since
    (``pending``) and is accepted with probability D^2 / bound (rejection sampling: accepted draws are
    exactly proportional to D^2). The bound is refreshed for every point in one matrix product every
    ``refresh_every`` centres or after ``max_rejections`` rejections in a row, instead of one pass over the
    N x D embedding per centre. ``refresh_every=1`` is the textbook draw (one uniform per centre)."""
    n = len(q)
    k = min(int(k), n)
    sq_norms = gradient_sq_norms(q, h)
    picks, pending, rejections = [], [], 0
    if k > 0 and float(sq_norms.max()) > 0:
        picks.append(int(sq_norms.argmax()))
        bound = gradient_sq_distances(q, h, picks[0], sq_norms)
        bound[picks[0]] = 0
        while len(picks) < k:  # chosen points keep bound 0 (distances are clamped at 0 before the minimum)
            if pending and (len(pending) >= refresh_every or rejections >= max_rejections):
                bound = torch.minimum(bound, gradient_sq_distances(q, h, pending, sq_norms).min(1).values)
                pending, rejections = [], 0
            if float(bound.sum()) <= 0:
                break
            j = _draw(bound, rng.random())
            if pending:
                to_pending = _pair_sq_distances(q[j:j + 1], h[j:j + 1], sq_norms[j:j + 1], q[pending], h[pending],
                                                sq_norms[pending])
                exact = min(float(bound[j]), float(to_pending.min()))
                if rng.random() * float(bound[j]) >= exact:
                    bound[j], rejections = exact, rejections + 1
                    continue
            picks.append(j)
            pending.append(j)
            bound[j], rejections = 0, 0
    n_random = k - len(picks)
    if n_random:
        picks.extend(rng.choice(np.setdiff1d(np.arange(n), picks), n_random, replace=False).tolist())
    return np.asarray(picks, dtype=np.int64), n_random


@register("badge")
class BADGE(Strategy):
    """BADGE on the scoring model's penultimate embedding and last linear layer (no hyper-parameters)."""

    def __init__(self, refresh_every: int = 32):
        self.refresh_every = refresh_every  # centres between refreshes of the D^2 bound (1: textbook draw)

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        idx = pool.unlabelled
        if k == 0:  # nothing left to label
            return idx[:0].astype(np.int64)
        q, h = gradient_factors(pool.embeddings(idx), *pool.last_layer())
        picks, n_random = badge_kmeans_pp(q, h, k, pool.rng, self.refresh_every)
        self.diagnostics_ = {"max_gradient_norm": float(gradient_sq_norms(q, h).max().sqrt()),
                             "uniform_fallback_picks": int(n_random)}
        return idx[picks]
