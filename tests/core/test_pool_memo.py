"""The pool's kept forward pass: a strategy that asks twice for the logits or embedding of the same images gets
the numbers of one pass, and the picks are those of a pool that runs a pass for every call, bit for bit."""
import numpy as np
import pytest
import torch

import bench.core.pool as pool_module
from bench.perf.reference import PassPerCallPool
from strategies import get_strategy
from strategies.testing import make_pool

# strategies that read the scoring model's logits or embedding (those with a model of their own run it through
# pool.map, which keeps nothing)
READERS = ["margin", "entropy", "balanced_margin", "balanced_entropy", "badge", "base", "coreset", "similar",
           "cluster_margin", "tailor", "galaxy", "direct", "typiclust", "maxherding", "power_entropy"]


def counted(pool):
    """Count the images the pool's model is run on."""
    seen = [0]
    forward = pool.model.forward_all

    def forward_all(x):
        seen[0] += len(x)
        return forward(x)

    pool.model.forward_all = forward_all
    return seen


def picks(name, keep: bool):
    """Picks of ``name`` on a small pool that keeps its forward pass or (``keep=False``) the pool as it was before,
    running a pass at every call; the images forwarded; the unlabelled count; the diagnostics."""
    s = get_strategy(name)
    pool = make_pool(s, seed=3, n=90, labelled=18, budget=12)
    if not keep:
        pool.__class__ = PassPerCallPool
    seen = counted(pool)
    out = np.asarray(s.select(pool, 12))
    return out, seen[0], len(pool.unlabelled), getattr(s, "diagnostics_", None)


@pytest.mark.parametrize("name", READERS)
def test_kept_pass_gives_the_same_picks(name):
    kept, n_kept, _, diag_kept = picks(name, True)
    fresh, n_fresh, _, diag_fresh = picks(name, False)
    assert kept.tolist() == fresh.tolist() and repr(diag_kept) == repr(diag_fresh)
    assert n_kept <= n_fresh


def test_balanced_and_tailor_run_one_pass_over_the_unlabelled_images():
    _, n_kept, n_unl, _ = picks("balanced_margin", True)
    _, n_fresh, _, _ = picks("balanced_margin", False)
    assert (n_kept, n_fresh) == (n_unl, 2 * n_unl)   # scores and predicted classes: one pass, not two
    _, n_kept, n_unl, _ = picks("tailor", True)
    _, n_fresh, _, _ = picks("tailor", False)
    # five arms read the unlabelled images (and SIMILAR its small query set): one pass over them, not five
    assert n_unl <= n_kept < 2 * n_unl and n_fresh >= 5 * n_unl


def test_kept_outputs_follow_the_weights_the_mode_and_the_images():
    pool = make_pool(get_strategy("margin"), n=40, labelled=8)
    idx = pool.unlabelled
    seen = counted(pool)
    first = pool.logits(idx)
    first.add_(100.0)                                   # a strategy writing into its copy changes nothing kept
    again = pool.logits(idx)
    assert seen[0] == len(idx) and not torch.equal(first, again)
    assert torch.equal(again, pool.map(idx, lambda o: o.logits.float()))   # what one plain pass gives
    assert torch.equal(pool.embeddings(idx), pool.map(idx, lambda o: o.embedding.float()))   # the same pass kept
    assert seen[0] == 3 * len(idx)                       # 1 kept pass + 2 plain ones
    with torch.no_grad():
        pool.model.fc.bias.add_(1.0)                     # weights written in place: the kept pass is stale
    assert torch.allclose(pool.logits(idx), again + 1.0, atol=1e-5) and seen[0] == 4 * len(idx)
    pool.model.train()                                   # another mode: pass again (batch norm in train mode)
    pool.logits(idx)
    pool.model.eval()
    pool.logits(idx)                                     # and again once back in eval mode
    assert seen[0] == 6 * len(idx)
    pool.x[idx[0]] += 1                                  # the images changed
    pool.logits(idx)
    assert seen[0] == 7 * len(idx)
    pool.logits(idx[::-1])                               # another order is another pass (other batches)
    assert seen[0] == 8 * len(idx)
    assert pool.logits(idx[:0]).numel() == 0 and pool.embeddings([]).numel() == 0


def test_kept_sets_are_bounded():
    pool = make_pool(get_strategy("margin"), n=40, labelled=8)
    for i in range(pool_module.MEMO_SETS + 3):
        pool.logits(pool.unlabelled[i:])
    assert len(pool._memo) == pool_module.MEMO_SETS
