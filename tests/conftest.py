"""Fixtures only (what tests share otherwise is in tests/helpers.py)."""
import os

import numpy as np
import pytest

from tests.helpers import NEU_SIZES, synthetic_cifar

# plans in tests measure every speed and keep none in the user's ~/.cache (a test that checks the cache sets it)
os.environ["ALBENCH_SPEED_CACHE"] = ""


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
