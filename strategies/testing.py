"""The contract every strategy keeps, as one function a test calls:

    from strategies.testing import check_strategy
    check_strategy(MyStrategy, epochs=1)        # params keep heavy strategies quick

Checks, on a small synthetic pool with a tiny frozen classifier (CPU): the selection is int64, distinct,
all unlabelled, exactly ``min(budget, |unlabelled|)`` long; a budget larger than the pool returns the
whole unlabelled pool; budget <= 0 raises; the same seed gives the same picks; changing the labels of
unlabelled images changes nothing (the strategy cannot see them); the pool's arrays are left untouched;
``get_params()`` round-trips through the constructor.
"""
import numpy as np
import torch

from bench.models import build_classifier
from bench.pool import Pool


def make_pool(strategy, seed=0, n=48, labelled=12, num_classes=3, size=8, scramble_unlabelled=False):
    """A synthetic pool: class-dependent 1-channel images, a tiny classifier built as the strategy asks."""
    gen = np.random.default_rng(1234)
    y = np.arange(n) % num_classes
    x = (gen.integers(0, 60, (n, 1, size, size)) + 60 * y[:, None, None, None]).astype(np.uint8)
    lab = gen.choice(n, labelled, replace=False)
    if scramble_unlabelled:
        unl = np.setdiff1d(np.arange(n), lab)
        y = y.copy()
        y[unl] = (y[unl] + 1) % num_classes
    opts = strategy.scoring_model_options
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_classifier("resnet18", num_classes, 1, width=4, dropout=opts.get("dropout", 0.0))
    model.eval().requires_grad_(False)
    return Pool(torch.from_numpy(x), y, lab, model, num_classes, np.random.default_rng(seed),
                device="cpu", batch_size=16, classes=[str(c) for c in range(num_classes)])


def check_strategy(cls, **params):
    s = cls(**params)
    params_out = s.get_params()
    assert cls(**params_out).get_params() == params_out, "get_params() does not round-trip"
    for budget in (1, 7):
        pool = make_pool(s)
        lab0, unl0 = pool.labelled.copy(), pool.unlabelled.copy()
        idx = s.select(pool, budget)
        assert isinstance(idx, np.ndarray) and idx.dtype == np.int64, f"select returned {type(idx)} {idx.dtype}"
        assert idx.ndim == 1 and len(idx) == budget, f"asked for {budget}, got {len(idx)}"
        assert len(np.unique(idx)) == len(idx), "duplicate indices"
        assert np.isin(idx, pool.unlabelled).all(), "selected an index that is not unlabelled"
        assert (pool.labelled == lab0).all() and (pool.unlabelled == unl0).all(), "select modified the pool"
    big = make_pool(s)
    idx = s.select(big, len(big) * 2)
    assert sorted(idx.tolist()) == big.unlabelled.tolist(), "budget > pool must return the whole unlabelled pool"
    for bad in (0, -3):
        try:
            s.select(make_pool(s), bad)
        except ValueError:
            pass
        else:
            raise AssertionError(f"budget {bad} did not raise ValueError")
    a, b = cls(**params).select(make_pool(s, seed=7), 5), cls(**params).select(make_pool(s, seed=7), 5)
    assert (a == b).all(), f"same seed, different picks: {a} vs {b}"
    c = cls(**params).select(make_pool(s, seed=7, scramble_unlabelled=True), 5)
    assert (a == c).all(), "the picks depend on the labels of unlabelled images"
    return True
