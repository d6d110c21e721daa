"""VaB-AL's mathematics (Eq. 5-11) on hand-built inputs, and its VAE on planted class structure."""
import numpy as np
import pytest
import torch

from strategies import get_strategy
from strategies.testing import make_pool
from strategies.vabal import (
    class_statistics,
    class_weights,
    error_probability,
    mask_each_class,
    mc_statistics,
    released_score,
    train_vae,
    vae_prediction,
)


def test_difficulty_off_makes_eq5_zero_whatever_the_prior():
    # Table 1's "prior only" (p(y|ŷ) set to 1): the numerator equals the denominator for every image
    rng = np.random.default_rng(3)
    log_lik = torch.tensor(rng.normal(-50, 20, (40, 5)), dtype=torch.float64)
    for prior in (np.full(5, 0.2), rng.dirichlet(np.ones(5) * 0.3)):
        s = error_probability(log_lik, prior, rng.uniform(0.1, 1, 5), use_prior=True, use_difficulty=False)
        assert np.allclose(s.numpy(), 0.0, atol=1e-12)
    assert error_probability(log_lik, prior, rng.uniform(0.1, 1, 5)).abs().max() > 1e-3   # on: not zero


def direct_eq5(lik, prior, difficulty):
    """Eq. 5 exactly as written, in probability space."""
    joint = lik * prior
    return 1 - (difficulty * joint).sum(1) / joint.sum(1)


def test_eq5_log_space_matches_direct_computation():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n, k = 7, int(rng.integers(2, 6))
        log_lik = rng.normal(0, 3, (n, k))
        prior, diff = rng.dirichlet(np.ones(k)), rng.uniform(0, 1, k)
        got = error_probability(torch.tensor(log_lik), prior, diff).numpy()
        assert np.allclose(got, direct_eq5(np.exp(log_lik), prior, diff), rtol=1e-10, atol=1e-12)


def test_eq5_is_finite_for_tiny_likelihoods():
    log_lik = torch.tensor([[-1e4, -1e4 - 3.0, -2e4], [-3e4, -1e4, -1e4 - 0.5]], dtype=torch.float64)
    prior, diff = np.array([0.5, 0.3, 0.2]), np.array([0.9, 0.6, 0.0])
    s = error_probability(log_lik, prior, diff)
    assert torch.isfinite(s).all() and ((s >= 0) & (s <= 1)).all()
    # shifting every log-likelihood by a constant changes nothing: the same as the direct form at offset 0
    ref = direct_eq5(np.exp((log_lik + 1e4).numpy()), prior, diff)
    assert np.allclose(s.numpy(), ref, rtol=1e-9)
    assert np.exp(-1e4) == 0.0  # the direct form would be 0/0 here


def test_mask_zeroes_exactly_the_class_dimensions():
    z = torch.arange(1, 13, dtype=torch.float64).view(1, 12)  # 3 classes x 4 dims, all non-zero
    m = mask_each_class(z, 3)
    assert m.shape == (1, 3, 12)
    for n in range(3):
        zero = (m[0, n] == 0).nonzero().flatten().tolist()
        assert zero == list(range(4 * n, 4 * n + 4))
        keep = [j for j in range(12) if j not in zero]
        assert torch.equal(m[0, n, keep], z[0, keep])


def test_class_weights_and_prediction():
    z = torch.tensor([[0.1, -0.1, 2.0, 1.0, -3.0, 0.5]])  # 3 classes x 2 dims
    assert torch.allclose(class_weights(z, 3, "square"), torch.tensor([[0.02, 5.0, 9.25]]))
    assert torch.allclose(class_weights(z, 3, "abs"), torch.tensor([[0.2, 3.0, 3.5]]))
    assert torch.allclose(class_weights(z, 3, "sigmoid"), torch.sigmoid(z).view(3, 2).sum(1)[None])
    assert vae_prediction(z, 3).item() == 0  # Eq. 6: the class whose dimensions are most absent


def test_eq10_eq11_by_hand_with_an_empty_class():
    y = np.array([0, 0, 1, 1, 2])
    y_hat = np.array([[0, 1, 1, 1, 0],      # draw 1
                      [0, 0, 1, 0, 0]])     # draw 2; class 2 never predicted
    prior, diff = class_statistics(y, y_hat, 3, smoothing=0.0)
    # predicted counts per draw-average: class0 (2+4)/2 = 3, class1 (3+1)/2 = 2, class2 0
    assert np.allclose(prior, [3 / 5, 2 / 5, 0.0])
    # correct: class0 (1+2)/2 = 1.5 of 3; class1 (2+1)/2 = 1.5 of 2; class2 empty -> 0 (prior 0 removes it)
    assert np.allclose(diff, [0.5, 0.75, 0.0])
    prior, diff = class_statistics(y, y_hat, 3, smoothing=1.0)
    agree = (1.5 + 1.5) / 5
    assert np.allclose(prior, [4 / 8, 3 / 8, 1 / 8])
    assert np.allclose(diff, [(1.5 + agree) / 4, (1.5 + agree) / 3, agree])
    s = error_probability(torch.zeros(2, 3, dtype=torch.float64), *class_statistics(y, y_hat, 3, 0.0))
    assert torch.isfinite(s).all()


def test_each_ablation_switch_changes_exactly_its_term():
    rng = np.random.default_rng(1)
    log_lik = torch.tensor(rng.normal(0, 2, (5, 4)))
    prior, diff = rng.dirichlet(np.ones(4)), rng.uniform(0.1, 1, 4)
    ones = np.ones(4)
    full = error_probability(log_lik, prior, diff)
    no_prior = error_probability(log_lik, prior, diff, use_prior=False)
    no_diff = error_probability(log_lik, prior, diff, use_difficulty=False)
    assert torch.allclose(no_prior, error_probability(log_lik, ones, diff))
    assert torch.allclose(no_diff, error_probability(log_lik, prior, ones))
    assert not torch.allclose(full, no_prior) and not torch.allclose(full, no_diff)
    assert torch.allclose(error_probability(log_lik, prior, diff, False, False), torch.zeros(5, dtype=torch.float64))


def test_released_score():
    loss = torch.tensor([[1.0, 3.0], [2.0, 2.0]], dtype=torch.float64)
    assert torch.allclose(released_score(loss, [0.25, 0.75]), torch.tensor([1 - 2.5, 1 - 2.0], dtype=torch.float64))


def planted(n, k, rng):
    y = rng.integers(0, k, n)
    centres = [rng.normal(0, 3, (k, d)) for d in (8, 16, 32, 64)]
    return [torch.tensor(c[y] + rng.normal(0, 1, (n, c.shape[1])), dtype=torch.float32) for c in centres], y


@pytest.mark.parametrize("variant", ["paper", "released"])
def test_vae_learns_planted_classes(variant):
    k = 4
    rng = np.random.default_rng(0)
    all_feats, y_all = planted(1600, k, rng)
    feats, y = [f[:1200] for f in all_feats], y_all[:1200]
    s = get_strategy("vabal", variant=variant, epochs=15, lr=3e-3, mc_samples=8, batch_size=64, lam=1.0)
    vae, history = train_vae(feats, torch.tensor(y), k, s, torch.device("cpu"), seed=0)
    assert len(history) == 15 and history[-1] < history[0]
    test_feats, y_test = [f[1200:] for f in all_feats], y_all[1200:]  # held out: the VAE never saw them
    pred, stat = mc_statistics(vae, test_feats, k, s)
    agreement = (pred.numpy() == y_test[None]).mean()
    assert agreement > 0.8, f"VAE agrees with planted classes {agreement:.2f} of the time (chance 0.25)"
    assert stat.shape == (400, k) and torch.isfinite(stat).all()


def test_diagnostics_and_switches_reach_select():
    s = get_strategy("vabal", epochs=2, mc_samples=4, batch_size=16)
    pool = make_pool(s, n=60, labelled=15)
    idx = s.select(pool, 5)
    d = s.diagnostics_
    assert len(idx) == 5 and len(d["prior"]) == 3 and np.isclose(sum(d["prior"]), 1)
    assert len(d["difficulty"]) == 3 and len(d["vae_loss_per_epoch"]) == 2 and 0 <= d["agreement_unlabelled"] <= 1
    r = get_strategy("vabal", variant="released", epochs=2, mc_samples=4, batch_size=16)
    r.select(make_pool(r, n=60, labelled=15), 5)
    assert np.isclose(sum(r.diagnostics_["prior_unlabelled"]), 1)
    with pytest.raises(ValueError, match="variant"):
        get_strategy("vabal", variant="nope")
