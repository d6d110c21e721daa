"""What the tests share besides fixtures: the repository root, the data root, the tiny config, the CLI runner,
synthetic stand-ins of the datasets' shapes (never a network call) and the quick strategy parameters."""
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_DATA = os.environ.get("ALBENCH_DATA") or os.path.join(ROOT, "data")
NEU_SIZES = [1210, 296, 775, 1148, 797, 200, 1589, 773, 438]  # the real NEU-CLS-64 class sizes

# the quickest config that still runs the whole loop (digits, a width-4 ResNet-18, 2 epochs)
TINY = ["initial=20", "budget=10", "rounds=2", "width=4", "epochs=2", "batch_size=16", "lr_milestones=[1]", "seeds=[0]",
        "eval_batch_size=256"]
# keep the heavy strategies quick on CPU; the contract is the same
FAST = {"bald": {"passes": 4}, "balanced_bald": {"passes": 4}, "power_bald": {"passes": 4}, "batchbald": {"passes": 4},
        "vaal": {"epochs": 1, "width": 8, "batch_size": 16},
        "vabal": {"epochs": 2, "mc_samples": 4, "batch_size": 16}}


def synthetic_cifar(path, n_classes, n_train, n_test, size=32):
    rng = np.random.default_rng(0)
    y_tr, y_te = np.repeat(np.arange(n_classes), n_train), np.repeat(np.arange(n_classes), n_test)
    rng.shuffle(y_tr)
    np.savez(path, x_train=rng.integers(0, 256, (len(y_tr), size, size, 3), dtype=np.uint8), y_train=y_tr,
             x_test=rng.integers(0, 256, (len(y_te), size, size, 3), dtype=np.uint8), y_test=y_te,
             classes=np.array([f"c{i}" for i in range(n_classes)]))


def run_cli(*args, cwd=None, env=None, timeout=600):
    e = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd or ROOT, env=e, capture_output=True,
                          text=True, timeout=timeout)
