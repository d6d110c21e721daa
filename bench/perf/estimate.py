"""The paper's Fig. 3(b) grid (read from the manifest) estimated from rates measured here, and its FLOP floor."""
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from bench.core.config import load_config, preset_for
from bench.core.models import build_classifier
from bench.paper.manifest import artifact
from bench.perf.measure import select_seconds, trainer_rate
from bench.trial.timing import data, timed
from bench.trial.train import evaluate, train_classifier
from datasets import known_labels
from strategies import get_strategy


def flops(cfg):
    """FLOPs counted by torch's FlopCounterMode on meta tensors (shapes only, nothing computed): a
    training image of the classifier, a forward image, and one VAAL iteration (its own ``iteration``)."""

    out = {}
    with torch.device("meta"):
        model = build_classifier(cfg.arch, 10, 3, cfg.width)
        x, y = torch.empty(2, 3, 32, 32, dtype=torch.uint8), torch.zeros(2, dtype=torch.long)
        with FlopCounterMode(display=False) as fc:
            F.cross_entropy(model(x), y).backward()
        out["train_per_image"] = fc.get_total_flops() / 2
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            model(x)
        out["forward_per_image"] = fc.get_total_flops() / 2
        vaal = get_strategy("vaal")   # the authors' hyper-parameters
        parts = vaal.build(3, 32, "meta")
        xb = torch.empty(vaal.batch_size, 3, 32, 32)
        with FlopCounterMode(display=False) as fc:
            vaal.iteration(*parts, lambda: (xb, xb))
        out["vaal_iteration"] = fc.get_total_flops()
    return out


def fig3b_grid(cfg, device, params, measured, peak_tflops, quick):
    """The Fig. 3(b) grid (3 datasets x 3 seeds x 5 strategies, 6 trainings of 200 epochs each), estimated
    from rates measured here: training images / the best training rate measured (concurrent trials if
    that section ran), plus every select at the grid's pool size measured alone, plus evaluation. And a
    floor: the grid's FLOPs (paper protocol, the strategies' default = published hyper-parameters) at
    ``peak_tflops``. Returns a dict; the command prints how it was computed."""
    grid = artifact("fig3b").runs[0]   # its datasets, strategies and seeds as the manifest gives them
    paper = load_config(preset_for(grid.datasets[0]))   # the paper's sizes and FLOPs, even with --quick
    n_trials = len(grid.datasets) * len(grid.seeds)      # per strategy
    _, y_pool, n_test = known_labels(grid.datasets[0])
    n_pool = len(y_pool)
    sizes = [paper.initial + r * paper.budget for r in range(paper.rounds + 1)]
    train_images = n_trials * len(grid.strategies) * paper.epochs * sum(sizes)
    rate = max([measured.get("train_img_s_32x32x3", 0)] + list(measured.get("concurrent_img_s", {}).values()))
    if not rate:
        rate = trainer_rate(cfg, 256 if quick else 25_000, 3, 32, device, 1 if quick else 3)
    n_lab = sizes[len(sizes) // 2]                                 # a middle round's labelled pool
    pool = (600, 100) if quick else (n_pool, n_lab)
    sel = select_seconds(cfg, grid.strategies, *pool, device, params)
    x_test, y_test = data(256 if quick else n_test, 3, 32, device, seed=1)
    model, _ = train_classifier(replace(cfg, epochs=1), x_test[:256], y_test[:256], 10, 0, [0.5] * 3, [0.25] * 3)
    evaluate(model, x_test[:256], y_test[:256], 10, cfg.eval_batch_size)   # warm-up
    eval_s = timed(lambda: evaluate(model, x_test, y_test, 10, cfg.eval_batch_size), device)
    train_s = train_images / rate
    select_s = {k: n_trials * paper.rounds * v for k, v in sel.items()}
    eval_total = n_trials * len(grid.strategies) * (paper.rounds + 1) * eval_s
    f = flops(paper)
    unl = n_pool - n_lab
    grid_flops = {
        "training": train_images * f["train_per_image"],
        "vaal": n_trials * paper.rounds * f["vaal_iteration"] * get_strategy("vaal").iterations(n_pool),
        "bald": n_trials * paper.rounds * get_strategy("bald").passes * unl * f["forward_per_image"],
        "other forward passes": n_trials * paper.rounds * 2 * n_pool * f["forward_per_image"]
        + n_trials * len(grid.strategies) * (paper.rounds + 1) * n_test * f["forward_per_image"]}
    floor = {k: v / (peak_tflops * 1e12) for k, v in grid_flops.items()}
    return {"pool": n_pool, "select_measured_at": {"pool": pool[0], "labelled": pool[1], "budget": cfg.budget},
            "labelled_sizes": sizes, "train_images": train_images, "train_rate_img_s": rate,
            "train_seconds": train_s, "select_seconds_each": sel, "select_seconds_total": select_s,
            "eval_seconds_each": eval_s, "eval_seconds_total": eval_total,
            "estimate_minutes": (train_s + sum(select_s.values()) + eval_total) / 60,
            "flops": f, "grid_flops": grid_flops, "peak_tflops": peak_tflops, "floor_seconds": floor,
            "floor_minutes": sum(floor.values()) / 60}
