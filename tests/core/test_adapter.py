"""Strategies around a user's own model (bench.adapter): a tiny CNN trained here on scikit-learn's digits
with a plain loop, wrapped, and every registered strategy run on the resulting pool."""
import gc

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from bench.adapter import LayerNameError, ModelAdapter, pool_from_model
from bench.core.pool import LabelLeakError
from strategies import get_strategy, list_strategies
from strategies.testing import check_selection

N, LABELLED, BUDGET = 600, 60, 10
FEATURES = ("features.2", "features.4", "features.6")
# keep the heavy strategies quick on CPU; the contract is the same
SMALL = {"vabal": {"epochs": 2, "mc_samples": 4, "batch_size": 64},
         "vaal": {"epochs": 1, "width": 8, "batch_size": 32},
         "direct": {"parallel_labels": 2, "min_budget_per_class": 1}}
# strategies that cannot run on a user's model, each with the error that says why
CANNOT = {
    "bald": (AttributeError, "drops", "MC-Dropout passes through albench's ResNet (model.drops, stem_forward, head)"),
    "balanced_bald": (AttributeError, "drops", "BALD's scores, as bald"),
    "power_bald": (AttributeError, "drops", "BALD's scores, as bald"),
    "batchbald": (AttributeError, "drops", "BALD's dropout passes, as bald"),
    "balanced_random_oracle": (LabelLeakError, "true_labels", "reads the true labels: a reference line, not a method"),
}


class TinyCNN(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),     # 8x8
            nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(inplace=True),                             # 4x4
            nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(inplace=True))                             # 2x2
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(64, classes)

    def forward(self, x):
        return self.head(self.dropout(self.pool(self.features(x))))


@pytest.fixture(scope="module")
def digits():
    """(x uint8 N x 1 x 8 x 8, y, labelled indices, the CNN trained on the labelled images by a plain loop)."""
    d = load_digits()
    x = np.clip(d.images[:N] * 16, 0, 255).astype(np.uint8)[:, None]
    y = d.target[:N].astype(np.int64)
    lab = np.random.default_rng(0).choice(N, LABELLED, replace=False)
    with torch.random.fork_rng():                  # torch's global RNG is left as it was
        torch.manual_seed(0)
        model = TinyCNN()
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        xt, yt = torch.from_numpy(x[lab]).float() / 255, torch.from_numpy(y[lab])
        model.train()
        for _ in range(60):
            for b in torch.randperm(LABELLED).split(20):
                opt.zero_grad()
                nn.functional.cross_entropy(model(xt[b]), yt[b]).backward()
                opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(torch.from_numpy(x).float() / 255).argmax(1).numpy() == y).mean()
    assert acc > 0.5, f"the tiny CNN did not learn ({acc:.2f})"
    return x, y, lab, model


def test_outputs_are_the_models_own(digits):
    x, y, lab, model = digits
    pool = pool_from_model(model, x, lab, y[lab], feature_layers=FEATURES)
    a = pool.model
    xt = torch.from_numpy(x[:50])
    out = a.forward_all(xt)
    with torch.no_grad():
        h = model.features(xt.float() / 255)
        emb = h.mean(dim=(2, 3))
        logits = model(xt.float() / 255)
    assert torch.equal(out.logits, logits)
    assert torch.allclose(out.embedding, emb, atol=1e-6)
    assert a.feature_dims == [16, 32, 64] and [tuple(f.shape[1:]) for f in out.features] == [
        (16, 8, 8), (32, 4, 4), (64, 2, 2)]
    assert torch.equal(out.features[2], h)
    assert a.fc is model.head and a.num_classes == 10 and pool.num_classes == 10
    w, b = pool.last_layer()
    assert torch.allclose(pool.embeddings(np.arange(50)) @ w.T + b, logits, atol=1e-5)
    assert torch.equal(pool.logits(np.arange(50)), logits)
    assert [f.shape[1] for f in pool.pooled_features(pool.unlabelled[:5])] == [16, 32, 64]
    # labels: the labelled ones only, from labels given for the labelled images alone
    assert (pool.labelled_labels == y[np.sort(lab)]).all()
    with pytest.raises(LabelLeakError):
        pool.labels(pool.unlabelled[:1])


def test_frozen_and_leaves_the_users_model_as_it_was(digits):
    x, y, lab, model = digits
    a = ModelAdapter(model, x[:1], feature_layers=FEATURES)
    model.train()
    model.features[1].eval()      # a user's own mix of modes is kept module by module
    bn = model.features[1].running_mean.clone()
    try:
        out = a.forward_all(torch.from_numpy(x[:8]))
        assert model.training and not model.features[1].training and model.dropout.training
        assert torch.equal(model.features[1].running_mean, bn) and not out.logits.requires_grad
        model(torch.from_numpy(x[:8]).float() / 255)          # the user's own forward keeps nothing
        assert a._store == {"on": False, "features": {}}
    finally:
        model.eval()
    assert a.eval() is a


def test_hooks_removed_on_close_and_on_garbage_collection(digits):
    x, y, lab, model = digits
    layers = [model.features[2], model.features[4], model.features[6], model.head]

    def hooks():
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in layers)

    a = ModelAdapter(model, x[:1], feature_layers=FEATURES[1:])
    assert hooks() == 3      # two feature layers and the classifier's input
    a.close()
    assert hooks() == 0
    with pytest.raises(RuntimeError, match="closed"):
        a.forward_all(torch.from_numpy(x[:2]))
    pool = pool_from_model(model, x, lab, y, feature_layers=FEATURES)
    assert hooks() == 4
    del pool
    gc.collect()
    assert hooks() == 0


def test_wrong_layer_name_lists_the_layers(digits):
    x, y, lab, model = digits
    with pytest.raises(LayerNameError, match=r"no layer 'features.9'.*Did you mean.*features\.0, features\.1"):
        pool_from_model(model, x, lab, y, feature_layers=("features.9",))
    with pytest.raises(KeyError, match="head"):
        ModelAdapter(model, x[:1], embedding_layer="pool.flat")
    with pytest.raises(TypeError, match="not an nn.Linear"):
        ModelAdapter(model, x[:1], classifier_layer="features.0")
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()) == 0  # none left


def test_no_feature_layers_serves_the_embedding_as_the_one_map(digits):
    x, y, lab, model = digits
    pool = pool_from_model(model, x, lab, y[lab])
    out = pool.model.forward_all(torch.from_numpy(x[:4]))
    assert pool.model.feature_dims == [64] and out.features[0].shape == (4, 64, 1, 1)
    assert torch.equal(pool.pooled_features([0, 1, 2, 3])[0], out.embedding)
    idx = get_strategy("vabal", **SMALL["vabal"]).select(pool, BUDGET)
    check_selection(idx, pool, BUDGET)


def test_embedding_from_a_named_layer_and_a_last_layer_that_does_not_match(digits):
    x, y, lab, model = digits
    a = ModelAdapter(model, x[:1], embedding_layer="features")            # 4-D output: pooled
    assert a.embedding_dim == 64 and a.fc is model.head
    b = ModelAdapter(model, x[:1], embedding_layer="features.4")          # 32 channels: not head's input
    assert b.embedding_dim == 32
    with pytest.raises(ValueError, match="maps 64 -> 10 but the embedding has 32"):
        b.fc
    pool = pool_from_model(model, x, lab, y, embedding_layer="features.4")
    with pytest.raises(ValueError, match="last_layer"):
        get_strategy("badge").select(pool, BUDGET)


def test_bad_inputs_say_what_is_wrong(digits):
    x, y, lab, model = digits
    with pytest.raises(ValueError, match="uint8"):
        pool_from_model(model, x.astype(np.float32), lab, y)
    with pytest.raises(ValueError, match="one per labelled image"):
        pool_from_model(model, x, lab, y[:5])
    with pytest.raises(ValueError, match="num_classes=3"):
        pool_from_model(model, x, lab, y, num_classes=3)
    with pytest.raises(ValueError, match="oracle"):
        pool_from_model(model, x, lab, y[lab], budget=BUDGET)
    mask = np.zeros(N, bool)
    mask[lab] = True
    pool = pool_from_model(model, torch.from_numpy(x), mask, y, seed=np.random.default_rng(3))
    assert (pool.labelled == np.sort(lab)).all()


def test_the_methods_run_on_a_user_model():
    must = {"vabal", "coreset", "random", "entropy", "margin", "least_confidence", "badge", "base", "typiclust",
            "probcover", "galaxy", "direct", "balanced_entropy", "balanced_margin", "vaal"}
    assert must <= set(list_strategies()) - set(CANNOT)


@pytest.mark.parametrize("name", list_strategies())
def test_every_strategy_runs_on_a_user_model(name, digits):
    x, y, lab, model = digits
    pool = pool_from_model(model, x, lab, y, feature_layers=FEATURES, seed=1, budget=BUDGET)
    strategy = get_strategy(name, **SMALL.get(name, {}))
    if name in CANNOT:
        error, names, _reason = CANNOT[name]
        with pytest.raises(error, match=names):
            strategy.select(pool, BUDGET)
        return
    idx = strategy.select(pool, BUDGET)
    check_selection(idx, pool, BUDGET)
    again = get_strategy(name, **SMALL.get(name, {})).select(
        pool_from_model(model, x, lab, y, feature_layers=FEATURES, seed=1, budget=BUDGET), BUDGET)
    assert (idx == again).all(), "same seed, same inputs, different picks"
