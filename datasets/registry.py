"""Dataset specs: a base dataset plus an optional seeded imbalance suffix (paper Sec. 4.1).

Grammar (class numbers are 1-based, as in the paper):

    <base>                 cifar10 | cifar100 | neu | digits
    <base>_dom<K>          keep class K whole, remove a fraction of every other class
    <base>_dom<A>_<B>      keep classes A..B (inclusive) whole, remove a fraction of every other class
    <base>_rare<K>         remove a fraction of class K
    <base>_rare<A>_<B>     remove a fraction of classes A..B

The fraction removed is 90 % (the paper's CIFAR-10 variants), except ``cifar100_dom*``, which removes
40 % (CIFAR-100^{+[45:55]}).  Removal touches the training split only, is exact per class
(``round(fraction * n_class)`` images go), preserves the original sample order, and is drawn from a
stream derived from the trial seed alone, so every strategy sees the same dataset under a seed.
"""
import os
import re
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from bench.errors import DatasetCorruptError
from datasets import sources

# base name -> (loader, number of classes, fraction removed by _dom, fraction removed by _rare)
BASES = {
    "cifar10": (sources.load_cifar10, 10, 0.9, 0.9),
    "cifar100": (sources.load_cifar100, 100, 0.4, 0.9),
    "neu": (sources.load_neu, 9, 0.9, 0.9),
    "digits": (sources.load_digits, 10, 0.9, 0.9),
}
# the specs of SPEC.md, listed by list_datasets(); the grammar accepts more
LISTED = (
    ["cifar10"] + [f"cifar10_{k}{c}" for k in ("dom", "rare") for c in (1, 5, 10)]
    + ["cifar100", "cifar100_dom45_55", "neu", "digits"]
    + [f"digits_{k}{c}" for k in ("dom", "rare") for c in (1, 5, 10)]
)
GRAMMAR = ("<base>[_dom<K>|_dom<A>_<B>|_rare<K>|_rare<A>_<B>] with <base> in "
           f"{sorted(BASES)} and 1-based class numbers, e.g. cifar10_dom1, cifar10_rare5, cifar100_dom45_55")
_SPEC_RE = re.compile(r"^(?P<base>[a-z]+[0-9]*)(?:_(?P<kind>dom|rare)(?P<a>[0-9]+)(?:_(?P<b>[0-9]+))?)?$")
_REMOVAL_STREAM = 0x5EED_DA7A  # separates the removal stream from the trial's own SeedSequence(seed)


@dataclass(frozen=True)
class Dataset:
    """Images as uint8 N x C x H x W, labels as int64, class names in label order."""

    spec: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: Tuple[str, ...]
    source: str = ""  # where the data was read from

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self, split: str = "train") -> np.ndarray:
        y = self.y_train if split == "train" else self.y_test
        return np.bincount(y, minlength=self.num_classes)


def list_datasets():
    """The dataset specs of the paper protocol (sorted); `get_dataset` accepts the whole grammar."""
    return sorted(LISTED)


def parse_spec(spec: str):
    """Split a spec into (base, kind, classes) with 0-based class indices; KeyError on a bad spec."""
    m = _SPEC_RE.match(spec.strip().lower()) if isinstance(spec, str) else None
    if not m or m["base"] not in BASES:
        raise KeyError(f"unknown dataset {spec!r}; the grammar is {GRAMMAR}; listed: {', '.join(list_datasets())}")
    if not m["kind"]:
        return m["base"], None, ()
    a, b, n = int(m["a"]), int(m["b"] or m["a"]), BASES[m["base"]][1]
    if not 1 <= a <= b <= n:
        raise KeyError(f"dataset {spec!r}: {m['base']} has classes 1..{n} (1-based, A <= B); the grammar is {GRAMMAR}")
    return m["base"], m["kind"], tuple(range(a - 1, b))


def data_root(root: Optional[str] = None) -> str:
    """``root`` if given, else ``$ALBENCH_DATA``, else ``~/.cache/albench``."""
    return os.path.expanduser(root or os.environ.get("ALBENCH_DATA") or os.path.join("~", ".cache", "albench"))


def removal_keep(y: np.ndarray, remove_fraction: np.ndarray, seed: int) -> np.ndarray:
    """Sorted indices of ``y`` to keep after removing ``round(f_c * n_c)`` random samples of each class c."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _REMOVAL_STREAM]))
    keep = []
    for c, frac in enumerate(remove_fraction):
        idx = np.flatnonzero(y == c)
        n_keep = len(idx) - int(round(frac * len(idx)))
        keep.append(idx if n_keep == len(idx) else rng.choice(idx, n_keep, replace=False))
    return np.sort(np.concatenate(keep)).astype(np.int64)


def get_dataset(spec: str, root: Optional[str] = None, seed: int = 0, download: bool = False) -> Dataset:
    """Load ``spec`` (see the module docstring) from ``data_root(root)``; ``seed`` draws the removal."""
    base, kind, classes = parse_spec(spec)
    loader, n_classes, dom_frac, rare_frac = BASES[base]
    raw = loader(data_root(root), download=download)
    x_train, y_train = raw["x_train"], raw["y_train"]
    if len(raw["classes"]) != n_classes:
        raise DatasetCorruptError(f"{raw['source']}: {base} has {n_classes} classes, found {len(raw['classes'])}")
    if kind:
        frac = np.zeros(n_classes)
        chosen = np.isin(np.arange(n_classes), classes)
        frac[~chosen if kind == "dom" else chosen] = dom_frac if kind == "dom" else rare_frac
        keep = removal_keep(y_train, frac, seed)
        x_train, y_train = x_train[keep], y_train[keep]
    return Dataset(spec=spec, x_train=x_train, y_train=y_train, x_test=raw["x_test"], y_test=raw["y_test"],
                   classes=tuple(raw["classes"]), source=raw.get("source", ""))
