"""The training-step modes (eager, CUDA graph, torch.compile) do the same mathematics.

On the CPU the graph mode runs its static-buffer step uncaptured, so everything but the capture itself is
checked here, bit for bit against eager; the captured and compiled CUDA paths are GPU-marked below.
"""
from dataclasses import replace

import pytest
import torch
from torch import nn

from bench.core.config import load_config
from bench.core.errors import ConfigError
from bench.trial.train import SGD, GraphedStep, evaluate, lr_at, step_mode, train_classifier

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def separable(n=300, device="cpu"):
    """Two classes a CNN tells apart in a few epochs (class 1 is brighter)."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    x = (torch.randint(0, 100, (n, 3, 32, 32), generator=g) + 120 * y.view(-1, 1, 1, 1)).to(torch.uint8)
    return x.to(device), y.to(device)


def small_cfg(**kw):
    # 300 images at batch 128: two full batches and a tail of 44 (a second captured shape)
    return replace(load_config("digits", ["epochs=3", "width=8", "batch_size=128", "lr_milestones=[2]"]), **kw)


@pytest.mark.parametrize("milestones", [(160,), (2, 5)])
def test_lr_schedule_matches_multisteplr(milestones):
    cfg = replace(small_cfg(), lr_milestones=milestones, lr=0.1, lr_gamma=0.1)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(milestones), cfg.lr_gamma)
    for epoch in range(200):
        assert lr_at(cfg, epoch) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12), epoch
        opt.step()
        sched.step()


def test_sgd_matches_torch_sgd():
    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    b = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    b.load_state_dict(a.state_dict())
    ours = SGD(a.parameters(), 0.1, 0.9, 5e-4)
    ref = torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    for step in range(12):
        if step == 6:   # a schedule change halfway
            ours.set_lr(0.01)
            ref.param_groups[0]["lr"] = 0.01
        xb, yb = torch.randn(16, 5), torch.randint(0, 3, (16,))
        for model, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7)
    assert not torch.equal(a[0].weight, nn.Sequential(nn.Linear(5, 7))[0].weight)   # it did train


def test_graphed_step_warmup_leaves_no_trace():
    torch.manual_seed(1)
    model = nn.Linear(4, 2)
    opt = SGD(model.parameters(), 0.5, 0.9, 5e-4)
    x, y = torch.randn(10, 4), torch.randint(0, 2, (10,))

    def step(idx):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx] + torch.randn(len(idx), 4)), y[idx]).backward()
        opt.step()

    state = list(model.parameters()) + opt.bufs
    before = [t.clone() for t in state]
    rng = torch.get_rng_state()
    g = GraphedStep(step, 4, 10, state, torch.device("cpu"), capture=False)
    assert all(torch.equal(t, s) for t, s in zip(state, before))
    assert torch.equal(torch.get_rng_state(), rng)
    g(torch.tensor([1, 2, 3, 4]))   # a real step changes the weights
    assert not torch.equal(model.weight, before[0])


@pytest.mark.parametrize("dropout", [0.0, 0.25])
def test_graph_path_equals_eager_on_cpu(dropout):
    x, y = separable()
    models = {}
    for mode in ("eager", "graph"):
        models[mode], _ = train_classifier(small_cfg(train_step=mode), x, y, 2, 7, [0.5] * 3, [0.25] * 3,
                                           dropout=dropout)
    eager, graph = (m.state_dict() for m in models.values())
    assert all(torch.equal(eager[k], graph[k]) for k in eager)
    assert evaluate(models["graph"], x, y, 2)["accuracy"] > 0.9


def test_failed_capture_falls_back_to_eager(monkeypatch):
    import bench.trial.train

    class Unsupported:
        def __init__(self, *a, **k):
            raise RuntimeError("operation not permitted when stream is capturing")

    x, y = separable()
    eager, _ = train_classifier(small_cfg(train_step="eager"), x, y, 2, 3, [0.5] * 3, [0.25] * 3)
    monkeypatch.setattr(bench.trial.train, "GraphedStep", Unsupported)
    with pytest.warns(UserWarning, match="capture failed"):
        graph, _ = train_classifier(small_cfg(train_step="graph"), x, y, 2, 3, [0.5] * 3, [0.25] * 3)
    assert all(torch.equal(a, b) for a, b in zip(eager.state_dict().values(), graph.state_dict().values()))


def test_step_mode_resolution():
    assert step_mode(small_cfg(), torch.device("cpu")) == "eager"
    assert step_mode(small_cfg(), torch.device("cuda")) == "graph"
    assert step_mode(small_cfg(train_step="compile"), torch.device("cpu")) == "compile"
    with pytest.raises(ConfigError, match="train_step"):
        load_config("digits", ["train_step=fast"])


@pytest.mark.slow
def test_compile_path_learns_on_cpu():   # about a minute: inductor compiles two batch shapes
    x, y = separable()
    model, _ = train_classifier(small_cfg(train_step="compile"), x, y, 2, 0, [0.5] * 3, [0.25] * 3)
    assert evaluate(model, x, y, 2)["accuracy"] > 0.9


@cuda
@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["eager", "graph", "compile"])
def test_cuda_step_modes_learn(mode):
    x, y = separable(device="cuda")
    model, _ = train_classifier(small_cfg(train_step=mode, epochs=5, lr_milestones=(4,)), x, y, 2, 0,
                                [0.5] * 3, [0.25] * 3, dropout=0.1)
    assert evaluate(model, x, y, 2)["accuracy"] > 0.9


@cuda
@pytest.mark.gpu
def test_cuda_graph_schedule_reaches_replays():
    """A captured step must read the lr tensor: with lr 0 after epoch 0, epochs 1-2 leave weights alone."""
    x, y = separable(device="cuda")
    base = small_cfg(train_step="graph", lr_milestones=(1,), lr_gamma=0.0, momentum=0.0, weight_decay=0.0)
    one, _ = train_classifier(replace(base, epochs=1), x, y, 2, 0, [0.5] * 3, [0.25] * 3)
    three, _ = train_classifier(base, x, y, 2, 0, [0.5] * 3, [0.25] * 3)
    w1, w3 = one.fc.weight, three.fc.weight
    torch.testing.assert_close(w1, w3, rtol=1e-3, atol=1e-3)   # lr 0.1 baked in would move them by far more
