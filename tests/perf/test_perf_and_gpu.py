"""The perf command's paths (no timing asserted: speed is reported by `make perf`, not tested), and the
CUDA paths, which run where a GPU is present (`make test-all` on the GPU machine) and are skipped here."""
import json

import numpy as np
import pytest
import torch

from bench.perf import __main__ as perf
from strategies import get_strategy, list_strategies
from tests.helpers import FAST

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_perf_quick_paths_run(tmp_path):
    out = tmp_path / "perf.json"
    res = perf.main(["--quick", "--sections", "train,reference,steps,select", "--strategies", "random,coreset,vabal",
                     "--modes", "eager,graph", "--json", str(out), "--device", "cpu"])
    saved = json.loads(out.read_text())
    for key in ("train_img_s_32x32x3", "reference_img_s_32x32x3", "speedup_64x64x1"):
        assert saved[key] > 0 and np.isfinite(saved[key])
    assert set(res["select_seconds"]) == {"random", "coreset", "vabal"}
    assert set(saved["step_img_s"]) == {"eager", "graph"} and min(saved["step_img_s"].values()) > 0
    assert saved["train_step_resolved"] == "eager"


def test_perf_executors_section_runs_both(tmp_path):
    res = perf.main(["--quick", "--sections", "executors", "--json", str(tmp_path / "p.json"), "--device", "cpu"])
    g = res["executor_wall_seconds"]
    assert len(g) == 2 and "local, 1 worker(s)" in g and all(v > 0 for v in g.values())


def test_fig3b_grid_estimate(tmp_path):
    res = perf.main(["--quick", "--sections", "grid", "--json", str(tmp_path / "p.json"), "--device", "cpu"])
    g = res["fig3b_grid"]
    assert g["pool"] == 5000 + 9 * 500                                      # cifar10_domK keeps 9,500
    assert g["labelled_sizes"] == [500, 1000, 1500, 2000, 2500, 3000]
    assert g["train_images"] == 3 * 3 * 5 * 200 * 10_500                    # 94.5 M
    f = g["flops"]
    assert f["train_per_image"] / 1e9 == pytest.approx(3.33, rel=0.01)     # the ResNet-18 figure
    assert f["train_per_image"] == pytest.approx(3 * f["forward_per_image"], rel=0.01)  # backward = 2 forwards
    assert g["grid_flops"]["vaal"] == pytest.approx(45 * 7421 * f["vaal_iteration"])   # 9,500 x 100 / 128
    assert g["floor_minutes"] == pytest.approx(sum(g["floor_seconds"].values()) / 60)
    assert g["estimate_minutes"] > g["train_seconds"] / 60 > 0


@cuda
@pytest.mark.gpu
def test_cuda_training_and_evaluation():
    from bench.core.config import load_config
    from bench.trial.train import evaluate, train_classifier

    cfg = load_config("paper/cifar10", ["epochs=3", "width=16", "lr_milestones=[2]"])
    y = torch.arange(512, device="cuda") % 2
    x = (torch.randint(0, 100, (512, 3, 32, 32), device="cuda") + 120 * y.view(-1, 1, 1, 1)).to(torch.uint8)
    model, _ = train_classifier(cfg, x, y, 2, seed=0, mean=[0.5] * 3, std=[0.25] * 3)
    assert evaluate(model, x, y, 2)["accuracy"] > 0.9


@cuda
@pytest.mark.gpu
@pytest.mark.parametrize("name", list_strategies())
def test_cuda_select(name):
    from bench.core.models import build_classifier
    from bench.core.pool import Pool

    s = get_strategy(name, **FAST.get(name, {}))
    x = torch.randint(0, 255, (600, 3, 32, 32), dtype=torch.uint8, device="cuda")
    model = build_classifier("resnet18", 10, 3, 16, **s.classifier_options).cuda().eval().requires_grad_(False)
    lab = np.arange(0, 600, 6)
    # built as the loop builds it: class names, the round's budget on the oracle, true labels only for a
    # strategy that declares it reads them (galaxy and direct buy labels; balanced_random_oracle reads them)
    pool = Pool(x, np.arange(600) % 10, lab, model, 10, np.random.default_rng(0), "cuda", 256,
                classes=[str(c) for c in range(10)], budget=40, true_labels=s.reads_true_labels)
    idx = s.select(pool, 40)
    assert len(np.unique(idx)) == 40 and np.isin(idx, pool.unlabelled).all()


def test_cpu_perf_runs_every_section_at_tiny_sizes():
    """``make perf DEVICE=cpu`` (bench.perf.cpu) runs each section; its figures are measured, so only their
    presence and signs are checked here (the speed goals are judged on the printed run, not in a test)."""
    from bench.perf.cpu import run

    rows = []
    res = run(threads=1, quick=True, report=lambda name, value, unit: rows.append((name, value, unit)))
    assert res["ceiling"]["matmul_fp32_gflops"] > 0
    assert all(res["train"][k] > 0 for k in ("auto", "fp32", "peer"))
    assert res["infer"]["auto"] > 0 and res["bald"]["auto"] > 0 and res["vaal"]["fp32"] > 0
    assert set(res["select"]) == {"coreset", "typiclust", "probcover", "badge", "maxherding"}
    assert res["batchbald"]["albench"] > 0 and res["batchbald"]["scikit-activeml"] > 0
    assert res["similar"]["same"] and res["similar"]["every_row"] > 0   # the lazy greedy picks as the first version
    assert any("speed-up auto / peer-style loop" in name for name, _, _ in rows)
    assert all(np.isfinite(v) for _, v, _ in rows)
