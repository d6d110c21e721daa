"""Pool, classifier, training, config: the harness pieces below the loop."""
import numpy as np
import pytest
import torch

from bench.core.config import Config, load_config
from bench.core.errors import ConfigError
from bench.core.models import build_classifier
from bench.core.pool import LabelLeakError, Pool
from bench.trial.train import augment, evaluate, train_classifier


def small_pool(seed=0):
    x = torch.randint(0, 255, (30, 1, 8, 8), dtype=torch.uint8)
    y = np.arange(30) % 3
    model = build_classifier("resnet18", 3, 1, width=4).eval().requires_grad_(False)
    return Pool(x, y, [1, 4, 7], model, 3, np.random.default_rng(seed), "cpu", batch_size=8)


def test_pool_hides_unlabelled_labels():
    pool = small_pool()
    assert pool.labelled.tolist() == [1, 4, 7] and len(pool.unlabelled) == 27
    assert pool.labelled_labels.tolist() == [1, 1, 1] and pool.labels([4]).tolist() == [1]
    with pytest.raises(LabelLeakError):
        pool.labels([0])
    with pytest.raises(LabelLeakError):
        pool.labels(pool.unlabelled)
    assert not any(isinstance(v, np.ndarray) and v.shape == (30,) for v in vars(pool).values()), \
        "no attribute may hold the full label array"
    with pytest.raises(ValueError):
        pool.unlabelled[0] = 1  # read-only index arrays


def test_pool_serves_raw_images_and_outputs():
    pool = small_pool()
    assert torch.equal(pool.images([2, 3]), pool.x[[2, 3]])
    assert pool.logits(pool.unlabelled).shape == (27, 3)
    assert torch.allclose(pool.probs([0]).sum(), torch.tensor(1.0))
    feats = pool.pooled_features([0, 1])
    assert [f.shape[1] for f in feats] == [4, 8, 16, 32] and pool.embeddings([0]).shape == (1, 32)


@pytest.mark.parametrize("shape,arch", [((2, 3, 32, 32), "resnet18"), ((2, 1, 64, 64), "resnet18"),
                                        ((2, 1, 8, 8), "resnet34")])
def test_classifier_shapes(shape, arch):
    m = build_classifier(arch, 7, shape[1], width=8, dropout=0.25).eval()
    o = m.forward_all(torch.randint(0, 255, shape, dtype=torch.uint8))
    h = shape[2]
    assert o.logits.shape == (2, 7) and o.embedding.shape == (2, 64)
    assert [tuple(f.shape[1:]) for f in o.features] == [(8, h, h), (16, h // 2, h // 2), (32, h // 4, h // 4),
                                                        (64, h // 8, h // 8)]
    assert sum(isinstance(d, torch.nn.Dropout) for d in m.drops) == 4
    assert isinstance(m.stem[0], torch.nn.Conv2d) and m.stem[0].kernel_size == (3, 3) and m.stem[0].stride == (1, 1)


@pytest.mark.parametrize("arch,precision", [("resnet18", "fp32"), ("resnet34", "fp32"), ("resnet18", "bf16")])
def test_the_residual_block_is_torchvisions_bit_for_bit(monkeypatch, arch, precision):
    """Every trial so far was trained on torchvision's BasicBlock: the same seed gives the same parameters
    (names, values), the same outputs in both modes and the same weights after SGD steps."""
    from torchvision.models.resnet import BasicBlock as Torchvisions

    from bench.core import models

    def trained(block):
        monkeypatch.setattr(models, "BasicBlock", block)
        torch.manual_seed(3)
        m = build_classifier(arch, 5, 3, width=8)
        x = torch.randint(0, 255, (6, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
        if precision == "bf16":
            m = m.to(memory_format=torch.channels_last)
        init = {k: v.clone() for k, v in m.state_dict().items()}
        opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        for _ in range(2):
            with torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
                loss = torch.nn.functional.cross_entropy(m(x), torch.arange(6) % 5)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return init, m.state_dict(), m.eval().forward_all(x)

    mine = models.BasicBlock
    assert mine is not Torchvisions
    ours, theirs = trained(mine), trained(Torchvisions)
    for a, b in ((ours[0], theirs[0]), (ours[1], theirs[1])):
        assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(ours[2].logits, theirs[2].logits) and torch.equal(ours[2].embedding, theirs[2].embedding)


def test_the_recorded_torchvision_version_is_its_own_without_importing_it():
    import subprocess
    import sys

    import torchvision

    code = ("import sys; from bench.trial.store import versions; "
            "print(versions()['torchvision'], 'torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [torchvision.__version__, "False"]


def test_paper_resnet18_size():
    n = sum(p.numel() for p in build_classifier("resnet18", 10, 3).parameters())
    assert n == 11_173_962  # the CIFAR ResNet-18 of the paper's protocol


def test_augment_is_a_translation_and_flip():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.int64).remainder(250).to(torch.uint8).view(2, 1, 6, 6) + 1
    torch.manual_seed(0)
    for _ in range(20):
        a = augment(x, 2, True)
        assert a.shape == x.shape and a.dtype == torch.uint8
        for i in range(2):
            found = False
            for img in (x[i, 0], x[i, 0].flip(1)):
                p = torch.nn.functional.pad(img, (2, 2, 2, 2))
                found |= any(torch.equal(p[dy:dy + 6, dx:dx + 6], a[i, 0]) for dy in range(5) for dx in range(5))
            assert found
    assert torch.equal(augment(x, 0, False), x)


def test_training_is_seeded_and_learns():
    cfg = load_config("digits", ["width=4", "epochs=15", "batch_size=16", "lr_milestones=[12]"])
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 2
    x = (torch.randint(0, 80, (64, 1, 8, 8), generator=gen) + 150 * y.view(-1, 1, 1, 1)).to(torch.uint8)
    m1, _ = train_classifier(cfg, x, y, 2, seed=3, mean=[0.5], std=[0.3])
    m2, _ = train_classifier(cfg, x, y, 2, seed=3, mean=[0.5], std=[0.3])
    m3, _ = train_classifier(cfg, x, y, 2, seed=4, mean=[0.5], std=[0.3])
    p1, p2, p3 = (torch.cat([p.flatten() for p in m.parameters()]) for m in (m1, m2, m3))
    assert torch.equal(p1, p2) and not torch.equal(p1, p3)
    metrics = evaluate(m1, x, y, 2)
    assert metrics["accuracy"] > 0.9 and len(metrics["per_class_accuracy"]) == 2


def test_evaluate_balanced_accuracy():
    class Fixed(torch.nn.Module):
        def forward_all(self, x):
            from bench.core.models import Outputs
            logits = torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.long), 3).float()
            return Outputs(logits, logits, [])

    y = torch.tensor([0, 0, 0, 1])
    m = evaluate(Fixed(), torch.zeros(4, 1, 2, 2), y, 3)
    assert m["accuracy"] == 0.75 and m["balanced_accuracy"] == 0.5 and m["per_class_accuracy"] == [1.0, 0.0, None]


def test_config_overrides_and_errors():
    cfg = load_config("paper/cifar10", ["epochs=3", "lr_milestones=[2]", "seeds=[4,5]",
                                        "strategy_params.vabal.lam=0.01"])
    assert cfg.epochs == 3 and cfg.seeds == (4, 5) and cfg.params_for("vabal") == {"lam": 0.01}
    assert cfg.initial == 500 and cfg.lr_milestones == (2,)
    assert load_config("paper/cifar10").lr_milestones == (160,)
    with pytest.raises(ConfigError, match="unknown config key"):
        load_config(None, ["epoch=3"])
    with pytest.raises(ConfigError, match="budget must be > 0"):
        load_config(None, ["budget=0"])
    with pytest.raises(ConfigError, match="not found"):
        load_config("no_such_preset")
    assert Config().epochs == 200 and Config().lr == 0.1 and Config().weight_decay == 5e-4


def test_narrow_nets_run_without_onednn_only_on_avx2_cpus(monkeypatch):
    # torch 2.14.1's oneDNN corrupts the heap in narrow convolutions' backward on AVX2 (docs/caveats.md)
    import torch

    from bench.core import device
    from bench.core.device import conv_backend, onednn_unsafe

    before = torch.backends.mkldnn.enabled
    for avx2_only, width, off in [(True, 4, True), (True, 8, False), (False, 4, False)]:
        monkeypatch.setattr(device, "avx2_without_avx512", lambda a=avx2_only: a)
        assert onednn_unsafe(width) == off
        with conv_backend(width, "cpu"):
            assert torch.backends.mkldnn.enabled == (before and not off)
        assert torch.backends.mkldnn.enabled == before   # restored after
    with pytest.raises(RuntimeError), conv_backend(4, "cpu"):   # ... and after an error inside
        raise RuntimeError("a failing step")
    assert torch.backends.mkldnn.enabled == before
    with conv_backend(4, "cuda"):   # never touched off the CPU (no CUDA device needed to ask)
        assert torch.backends.mkldnn.enabled == before
