"""The loop's pool keeps its forward pass (``keep_passes=True``): a strategy that asks twice for the logits or
embedding of the same images gets the numbers of one pass, and the picks are those of a pool that runs a pass at
every call, bit for bit; what is kept is never handed out once the model, its mode or the images changed."""
import numpy as np
import pytest
import torch
from torch import nn

import bench.core.pool as pool_module
from bench.core.models import Outputs
from bench.core.pool import Pool
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


def picks(name, keep: bool, precision="fp32"):
    """Picks of ``name`` on a small pool that keeps its forward pass or runs one at every call; the images
    forwarded; the unlabelled count; the diagnostics."""
    s = get_strategy(name)
    pool = make_pool(s, seed=3, n=90, labelled=18, budget=12, keep_passes=keep)
    pool.precision = precision
    seen = counted(pool)
    out = np.asarray(s.select(pool, 12))
    return out, seen[0], len(pool.unlabelled), getattr(s, "diagnostics_", None)


@pytest.mark.parametrize("name", READERS)
def test_kept_pass_gives_the_same_picks(name):
    for precision in ("fp32", "bf16"):
        kept, n_kept, _, diag_kept = picks(name, True, precision)
        fresh, n_fresh, _, diag_fresh = picks(name, False, precision)
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
    old = pool.model.fc.weight
    for _ in range(2):                                   # a parameter replaced (twice: an id may be reused)
        pool.model.fc.weight = nn.Parameter(torch.randn_like(old), requires_grad=False)
    assert torch.equal(pool.logits(idx), pool.map(idx, lambda o: o.logits.float())) and seen[0] == 6 * len(idx)
    for _ in range(20):                                  # ids and addresses of freed tensors reused: never stale
        for _ in range(2):
            pool.model.fc.weight = nn.Parameter(torch.randn_like(old), requires_grad=False)
        assert torch.equal(pool.logits(idx[:5]), pool.map(idx[:5], lambda o: o.logits.float()))
    seen[0] = 6 * len(idx)
    pool.model.stem.train()                              # one submodule in training mode: nothing is kept
    pool.logits(idx)
    pool.logits(idx)
    pool.model.eval()
    assert seen[0] == 8 * len(idx)
    pool.x[idx[0]] += 1                                  # the images changed
    pool.logits(idx)
    assert seen[0] == 9 * len(idx)
    pool.logits(idx[::-1])                               # another order is another pass (other batches)
    assert seen[0] == 10 * len(idx)
    assert pool.logits(idx[:0]).numel() == 0 and pool.embeddings([]).numel() == 0


def test_a_pool_keeps_nothing_unless_asked_and_never_for_inference_tensors():
    pool = make_pool(get_strategy("margin"), n=40, labelled=8, keep_passes=False)
    seen = counted(pool)
    pool.logits(pool.unlabelled)
    pool.logits(pool.unlabelled)
    assert seen[0] == 2 * len(pool.unlabelled) and not pool._kept
    with torch.inference_mode():                         # inference tensors count no versions: nothing kept
        x = pool.x.clone()
        pool = Pool(x, np.arange(40) % 3, np.arange(8), pool.model, 3, np.random.default_rng(0), "cpu",
                    keep_passes=True)
        picked = get_strategy("margin").select(pool, 5)
    assert len(picked) == 5 and not pool._kept


def test_a_model_without_an_embedding_still_gives_logits_and_dropout_is_never_replayed():
    class LogitsOnly(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop, self.fc = nn.Dropout(0.5), nn.Linear(64, 3)

        def forward_all(self, x):
            return Outputs(self.fc(self.drop(x.float().flatten(1) / 255)), None, [])

    pool = Pool(torch.randint(0, 255, (20, 1, 8, 8), dtype=torch.uint8), np.arange(20) % 3, np.arange(4),
                LogitsOnly().eval(), 3, np.random.default_rng(0), "cpu", keep_passes=True)
    assert len(get_strategy("margin").select(pool, 4)) == 4 and len(pool._kept) == 1
    with pytest.raises(AttributeError):
        pool.embeddings(pool.unlabelled)
    pool.model.drop.train()   # a dropout sample each call, as a pool that keeps nothing gives
    assert not torch.equal(pool.logits(pool.unlabelled), pool.logits(pool.unlabelled))


def test_kept_sets_are_bounded_and_the_most_recent_stay():
    pool = make_pool(get_strategy("margin"), n=40, labelled=8)
    seen = counted(pool)
    for i in range(pool_module.KEPT_SETS + 3):
        pool.logits(pool.unlabelled)                     # asked again and again: stays
        pool.logits(pool.unlabelled[i + 1:])
    assert len(pool._kept) == pool_module.KEPT_SETS
    assert seen[0] == len(pool.unlabelled) + sum(len(pool.unlabelled) - i - 1 for i in range(pool_module.KEPT_SETS + 3))
