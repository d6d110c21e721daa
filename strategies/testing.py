"""The contract every strategy keeps, as one function a test calls:

    from strategies.testing import check_strategy
    check_strategy(MyStrategy, epochs=1)        # params keep heavy strategies quick

Checks, on a small synthetic pool with a tiny frozen classifier (CPU): the selection is a 1-d integer array
(or list), distinct, all unlabelled, exactly ``min(budget, |unlabelled|)`` long (the loop's own rule,
``bench.core.pool.selection_problems``); the pool's images are left unchanged; a budget larger than the pool returns the
whole unlabelled pool; budget <= 0 raises; the same seed gives the same picks; the pool's arrays are left
untouched; ``get_params()`` round-trips through the constructor.

Labels: the pool carries the round's budget, so a strategy may buy labels with ``pool.reveal``; the kit
checks that every revealed index is in the selection and that no more than the budget was revealed.
What a strategy may see is checked by changing the labels it may not see: the labels of unlabelled images
it did not reveal are changed (all of them for a strategy that reveals nothing) and the picks, with the
same seed, must not move. A strategy that reveals legitimately changes its picks when the labels it
bought change, but never when only labels it did not buy change. A reference strategy that declares
``reads_true_labels`` gets a pool with ``true_labels`` open (built so only for it) and cannot pass the
invariance check by design: for it the kit checks only the contract on the changed pool.
"""
import numpy as np
import torch

from bench.core.contract import selection_problems
from bench.core.models import build_classifier
from bench.core.pool import Pool


def make_pool(strategy, seed=0, n=48, labelled=12, num_classes=3, size=8, scramble_unlabelled=False,
              budget=None, keep=(), keep_passes=True):
    """A synthetic pool: class-dependent 1-channel images, a tiny classifier built as the strategy asks; like the
    loop's, it keeps one forward pass per index sequence (``keep_passes``).

    ``budget`` is what the pool's oracle may reveal; ``scramble_unlabelled`` shifts the labels of the
    unlabelled images except those in ``keep``; the true labels are open only for a strategy that
    declares ``reads_true_labels``."""
    gen = np.random.default_rng(1234)
    y = np.arange(n) % num_classes
    x = (gen.integers(0, 60, (n, 1, size, size)) + 60 * y[:, None, None, None]).astype(np.uint8)
    lab = gen.choice(n, labelled, replace=False)
    if scramble_unlabelled:
        unl = np.setdiff1d(np.setdiff1d(np.arange(n), lab), np.asarray(keep, np.int64))
        y = y.copy()
        y[unl] = (y[unl] + 1) % num_classes
    opts = strategy.scoring_model_options
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_classifier("resnet18", num_classes, 1, width=4, dropout=opts.get("dropout", 0.0))
    model.eval().requires_grad_(False)
    return Pool(torch.from_numpy(x), y, lab, model, num_classes, np.random.default_rng(seed),
                device="cpu", batch_size=16, classes=[str(c) for c in range(num_classes)], budget=budget,
                true_labels=strategy.reads_true_labels, keep_passes=keep_passes)


def check_selection(idx, pool, budget, unlabelled=None):
    """The select() contract for one call on ``pool`` (``bench.core.pool.selection_problems``, the loop's rule),
    the oracle's bookkeeping included; ``unlabelled``: the pool's unlabelled indices before the call."""
    unlabelled = pool.unlabelled if unlabelled is None else unlabelled
    _, problems = selection_problems(idx, unlabelled, pool.revealed, budget)
    assert not problems, f"select() broke its contract: {'; '.join(problems)}"


def check_strategy(cls, **params):
    s = cls(**params)
    params_out = s.get_params()
    assert cls(**params_out).get_params() == params_out, "get_params() does not round-trip"
    for budget in (1, 7):
        pool = make_pool(s, budget=budget)
        lab0, unl0, x0 = pool.labelled.copy(), pool.unlabelled.copy(), pool.x.clone()
        idx = s.select(pool, budget)
        check_selection(idx, pool, budget, unl0)
        assert len(pool.labelled) == len(lab0) and (pool.labelled == lab0).all() and \
            len(pool.unlabelled) == len(unl0) and (pool.unlabelled == unl0).all(), "select modified the pool"
        assert torch.equal(pool.x, x0), "select wrote into the pool's images (pool.x)"
    big = make_pool(s, budget=10 ** 6)
    idx = s.select(big, len(big) * 2)
    check_selection(idx, big, len(big) * 2)
    assert sorted(np.asarray(idx).tolist()) == big.unlabelled.tolist(), \
        "budget > pool must return the whole unlabelled pool"
    for bad in (0, -3):
        try:
            s.select(make_pool(s, budget=5), bad)
        except ValueError:
            pass
        else:
            raise AssertionError(f"budget {bad} did not raise ValueError")
    pool_a = make_pool(s, seed=7, budget=5)
    a, b = cls(**params).select(pool_a, 5), cls(**params).select(make_pool(s, seed=7, budget=5), 5)
    a, b = np.asarray(a), np.asarray(b)
    assert (a == b).all(), f"same seed, different picks: {a} vs {b}"
    changed = make_pool(s, seed=7, scramble_unlabelled=True, budget=5, keep=pool_a.revealed)
    c = cls(**params).select(changed, 5)
    check_selection(c, changed, 5)
    if not s.reads_true_labels:
        assert (a == np.asarray(c)).all(), ("the picks depend on the labels of unlabelled images"
                                + (" it did not reveal" if len(pool_a.revealed) else ""))
    return True
