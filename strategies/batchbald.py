"""BatchBALD (Kirsch, van Amersfoort & Gal, "BatchBALD: Efficient and Diverse Batch Acquisition for Deep
Bayesian Active Learning", NeurIPS 2019): the batch chosen greedily to maximise the *joint* mutual information
I(y_1, ..., y_b; w) between its labels and the network's weights, from BALD's Monte-Carlo dropout passes.

Rule: with S dropout samples p_s(y | x), add at each step the image x maximising
H(y_A, y_x) - sum over A + x of E_s H(y_i | w_s)  (the conditional terms of A are the same for every x),
where H(y_A, y_x) = -sum_y p(y) log p(y), p(y) = mean_s prod_i p_s(y_i). The first pick is BALD's top image.
The labels of A are enumerated exactly while there are at most ``configs`` configurations (C^|A|); beyond,
``configs`` configurations are drawn from p(y_A) (ancestral sampling with ``pool.rng``) and the joint entropy
is their Monte-Carlo estimate, as the paper's Sec. 4. Choices left open, and ours:
- candidates: the ``max_candidates`` (2,000) unlabelled images of highest BALD score, as practical
  implementations prefilter; the cost per pick is S x configs x candidates x C multiply-adds (memory: the
  S x N x C probabilities and one chunk of 256 candidates x configs x C), said in the diagnostics;
- the dropout network, passes and chunking are BALD's (``strategies.bald``: same parameters, same scoring
  model); ties broken at random (``pool.rng``); float64 arithmetic.
"""
import time

import numpy as np
import torch

from bench.core.device import seeded
from strategies._api import random_argmax, register, top_k
from strategies.bald import BALD, bald_scores, mc_dropout_probs


def entropy_terms(p: torch.Tensor) -> torch.Tensor:
    """-sum over the last two dimensions of p log p (0 log 0 = 0), per row. On the CPU through numpy, whose
    vectorised float64 log measured 4x torch's here (the log is most of a BatchBALD pick); elsewhere torch."""
    if p.device.type != "cpu":
        return -torch.special.xlogy(p, p).sum((1, 2))
    a = p.numpy()
    return torch.from_numpy(-np.einsum("nmc,nmc->n", a, np.log(np.maximum(a, np.finfo(a.dtype).tiny))))


def joint_entropies(weights: torch.Tensor, probs: torch.Tensor, exact: bool, chunk: int = 256) -> torch.Tensor:
    """H(y_A, y_x) for every candidate x (up to a constant common to all x when ``exact`` is False):
    ``weights`` S x M = prod over A of p_s(y_i) for each configuration m of A's labels (exact: all of them;
    else M samples of p(y_A), each column scaled to mean 1 over s), ``probs`` S x N x C."""
    s = weights.shape[0]
    out = []
    for i in range(0, probs.shape[1], chunk):
        pmc = torch.einsum("sm,snc->nmc", weights, probs[:, i:i + chunk]) / s
        h = entropy_terms(pmc)
        out.append(h if exact else h / weights.shape[1])
    return torch.cat(out)


def batchbald_greedy(probs: torch.Tensor, budget: int, configs: int, rng: np.random.Generator):
    """Greedy BatchBALD picks (positions in ``probs``' N) from S x N x C probabilities; with the gains."""
    s, n, c = probs.shape
    cond = -torch.special.xlogy(probs, probs).sum(2).mean(0)              # E_s H(y_x | w_s), per x
    weights = torch.ones(s, 1, dtype=probs.dtype, device=probs.device)     # the empty batch: one configuration
    exact, chosen, picks, gains = True, torch.zeros(n, dtype=torch.bool, device=probs.device), [], []
    for _ in range(budget):
        score = joint_entropies(weights, probs, exact) - cond
        score[chosen] = float("-inf")
        pick = random_argmax(score, rng)
        best = score[pick]
        picks.append(pick)
        gains.append(float(best))
        chosen[pick] = True
        px = probs[:, pick, :]                                               # S x C
        if exact and weights.shape[1] * c <= configs:                        # enumerate (config, label) pairs
            weights = (weights.unsqueeze(2) * px.unsqueeze(1)).reshape(s, -1)
            continue
        joint = (weights.unsqueeze(2) * px.unsqueeze(1)).mean(0)              # M x C: p(config, label) (x q_m)
        if exact:   # draw the configurations of A + x from their exact joint
            flat = (joint / joint.sum()).flatten().cpu().numpy()
            draw = rng.choice(len(flat), configs, p=flat / flat.sum())
            m, lab = draw // c, draw % c
        else:       # extend each sampled configuration of A by a label drawn from p(y_x | that configuration)
            cond_p = (joint / joint.sum(1, keepdim=True)).cpu().numpy()
            m = np.arange(weights.shape[1])
            lab = np.array([rng.choice(c, p=row / row.sum()) for row in cond_p])
        m_t, lab_t = torch.as_tensor(m, device=probs.device), torch.as_tensor(lab, device=probs.device)
        weights = weights[:, m_t] * px[:, lab_t]
        weights = weights / weights.mean(0, keepdim=True).clamp_min(1e-300)    # scale each column to mean 1
        exact = False
    return np.asarray(picks, np.int64), gains


@register("batchbald")
class BatchBALD(BALD):
    planning_note = ("its Monte-Carlo passes are timed as BALD's; its greedy search (budget x max_candidates x "
                     "configurations per select) is timed apart at the profile's budget and added to every select: "
                     "a pool with fewer unlabelled images than max_candidates costs less")

    def __init__(self, dropout: float = 0.25, passes: int = 100, rows_per_batch: int = 8192,
                 evaluate: str = "classifier", max_candidates: int = 2000, configs: int = 1000):
        super().__init__(dropout, passes, rows_per_batch, evaluate)
        self.max_candidates = max_candidates   # highest-BALD unlabelled images the greedy search considers
        self.configs = configs                 # label configurations of the batch, enumerated or sampled

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        idx = pool.unlabelled
        step = max(1, self.rows_per_batch // self.passes)
        with seeded(pool.torch_seed(), pool.device):
            probs = torch.cat([mc_dropout_probs(pool.model, pool.images(idx[i:i + step]), self.passes, pool.precision,
                                                pool.batch_size).double() for i in range(0, len(idx), step)], dim=1)
        cand = top_k(bald_scores(probs).cpu().numpy(), max(k, min(self.max_candidates, len(idx))), pool.rng)
        picks, gains = batchbald_greedy(probs[:, torch.as_tensor(cand, device=probs.device)], k, self.configs,
                                        pool.rng)
        self.diagnostics_ = {"candidates": int(len(cand)), "first_gain": gains[0], "last_gain": gains[-1]}
        return idx[cand[picks]]

    def for_planning(self):
        """BALD's cheaper copy (at most 4 passes, x passes / 4) with one configuration: the Monte-Carlo passes
        over the pool, whose time grows with it; the greedy search, which does not, is timed apart."""
        probe, factor = super().for_planning()
        return type(self)(**dict(probe.get_params(), configs=1)), factor

    def planning_extra(self, budget, num_classes):
        """Seconds of the greedy search at ``budget`` picks among ``max_candidates`` candidates (or ``budget``,
        if more, as ``select`` takes), on random probabilities of the real shape: the picks of the exact
        enumeration and one more timed whole, then 10 more, whose cost per pick (constant once ``configs``
        configurations are drawn) stands for the rest."""
        enumerated, m = 0, 1
        while m * num_classes <= self.configs:
            enumerated, m = enumerated + 1, m * num_classes
        first = min(budget, enumerated + 1)
        more = min(10, budget - first)

        def seconds():
            g = torch.Generator().manual_seed(0)
            probs = torch.softmax(2 * torch.randn(self.passes, max(budget, self.max_candidates), num_classes,
                                                  generator=g, dtype=torch.float64), dim=2)
            took = []
            for n in (first, first + more) if more else (first,):
                t0 = time.perf_counter()
                batchbald_greedy(probs, n, self.configs, np.random.default_rng(0))
                took.append(time.perf_counter() - t0)
            return took[0] + (budget - first) * max(took[1] - took[0], 0.0) / more if more else took[0]
        return seconds
