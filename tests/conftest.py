"""Shared fixtures: synthetic stand-ins of the datasets' shapes (never a network call), and a tiny config."""
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_DATA = os.environ.get("ALBENCH_DATA") or os.path.join(ROOT, "data")
NEU_SIZES = [1210, 296, 775, 1148, 797, 200, 1589, 773, 438]  # the real NEU-CLS-64 class sizes
# plans in tests measure every speed and keep none in the user's ~/.cache (a test that checks the cache sets it)
os.environ["ALBENCH_SPEED_CACHE"] = ""

# the quickest config that still runs the whole loop (digits, a width-4 ResNet-18, 2 epochs)
TINY = ["initial=20", "budget=10", "rounds=2", "width=4", "epochs=2", "batch_size=16", "lr_milestones=[1]", "seeds=[0]",
        "eval_batch_size=256"]


def synthetic_cifar(path, n_classes, n_train, n_test, size=32):
    rng = np.random.default_rng(0)
    y_tr, y_te = np.repeat(np.arange(n_classes), n_train), np.repeat(np.arange(n_classes), n_test)
    rng.shuffle(y_tr)
    np.savez(path, x_train=rng.integers(0, 256, (len(y_tr), size, size, 3), dtype=np.uint8), y_train=y_tr,
             x_test=rng.integers(0, 256, (len(y_te), size, size, 3), dtype=np.uint8), y_test=y_te,
             classes=np.array([f"c{i}" for i in range(n_classes)]))


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """A data root with CIFAR-10/100-shaped stand-ins (5000/1000 and 500/100 per class, 32x32x3; the
    images are 4x4 for CIFAR-100 to keep it light: counts are what the tests look at) and NEU-shaped data."""
    root = tmp_path_factory.mktemp("data")
    synthetic_cifar(root / "cifar10.npz", 10, 5000, 1000)
    synthetic_cifar(root / "cifar100.npz", 100, 500, 100, size=4)
    y = np.repeat(np.arange(9), NEU_SIZES)
    np.savez(root / "neu.npz", x=np.zeros((len(y), 8, 8, 1), np.uint8), y=y,
             classes=np.array(["cr", "gg", "in", "pa", "ps", "rp", "rs", "sc", "sp"]))
    return str(root)


def run_cli(*args, cwd=None, env=None, timeout=600):
    e = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd or ROOT, env=e, capture_output=True,
                          text=True, timeout=timeout)
