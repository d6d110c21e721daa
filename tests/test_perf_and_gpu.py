"""The perf command's paths (no timing asserted: speed is reported by `make perf`, not tested), and the
CUDA paths, which run where a GPU is present (`make test-all` on the GPU machine) and are skipped here."""
import json

import numpy as np
import pytest
import torch

from bench import perf
from strategies import get_strategy, list_strategies
from tests.test_registry import FAST

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_perf_quick_paths_run(tmp_path):
    out = tmp_path / "perf.json"
    res = perf.main(["--quick", "--sections", "train,reference,select", "--strategies", "random,coreset,vabal",
                     "--json", str(out), "--device", "cpu"])
    saved = json.loads(out.read_text())
    for key in ("train_img_s_32x32x3", "reference_img_s_32x32x3", "speedup_64x64x1"):
        assert saved[key] > 0 and np.isfinite(saved[key])
    assert set(res["select_seconds"]) == {"random", "coreset", "vabal"}


@cuda
@pytest.mark.gpu
def test_cuda_training_and_evaluation():
    from bench.config import load_config
    from bench.train import evaluate, train_classifier

    cfg = load_config("paper/cifar10", ["epochs=3", "width=16", "lr_milestones=[2]"])
    y = torch.arange(512, device="cuda") % 2
    x = (torch.randint(0, 100, (512, 3, 32, 32), device="cuda") + 120 * y.view(-1, 1, 1, 1)).to(torch.uint8)
    model, _ = train_classifier(cfg, x, y, 2, seed=0, mean=[0.5] * 3, std=[0.25] * 3)
    assert evaluate(model, x, y, 2)["accuracy"] > 0.9


@cuda
@pytest.mark.gpu
@pytest.mark.parametrize("name", list_strategies())
def test_cuda_select(name):
    from bench.models import build_classifier
    from bench.pool import Pool

    s = get_strategy(name, **FAST.get(name, {}))
    x = torch.randint(0, 255, (600, 3, 32, 32), dtype=torch.uint8, device="cuda")
    model = build_classifier("resnet18", 10, 3, 16, **s.classifier_options).cuda().eval().requires_grad_(False)
    lab = np.arange(0, 600, 6)
    pool = Pool(x, np.arange(600) % 10, lab, model, 10, np.random.default_rng(0), "cuda", 256)
    idx = s.select(pool, 40)
    assert len(np.unique(idx)) == 40 and np.isin(idx, pool.unlabelled).all()
