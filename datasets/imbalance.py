"""Seeded, exact, order-preserving removal of training images: the ``_dom``, ``_rare`` and ``_lt`` suffixes.

Every suffix becomes a number of images to keep per class, drawn from one stream derived from the trial seed
alone (``removal_rng``), so every strategy sees the same dataset under a seed; the kept indices are sorted, so
the kept images keep their original order, and the test split is never touched.
"""
import numpy as np

_REMOVAL_STREAM = 0x5EED_DA7A  # separates the removal stream from the trial's own SeedSequence(seed)


def removal_rng(seed: int) -> np.random.Generator:
    """The removal stream of a trial seed: independent of every stream the trial spawns from SeedSequence(seed)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), _REMOVAL_STREAM]))


def keep_per_class(y: np.ndarray, n_keep, seed: int) -> np.ndarray:
    """Sorted indices of ``y`` keeping ``n_keep[c]`` random samples of class c; a class with fewer keeps all.

    Classes are visited in label order and a class kept whole draws nothing, so a class's draw depends only on
    the counts before it (this is what keeps ``_dom``/``_rare`` indices stable as the code grows)."""
    rng = removal_rng(seed)
    keep = [np.zeros(0, np.int64)]
    for c, n in enumerate(n_keep):
        idx = np.flatnonzero(y == c)
        keep.append(idx if n >= len(idx) else rng.choice(idx, int(n), replace=False))
    return np.sort(np.concatenate(keep)).astype(np.int64)


def removal_keep(y: np.ndarray, remove_fraction, seed: int) -> np.ndarray:
    """Sorted indices of ``y`` to keep after removing ``round(f_c * n_c)`` random samples of each class c."""
    counts = np.bincount(y, minlength=len(remove_fraction))[:len(remove_fraction)]
    return keep_per_class(y, [n - int(round(f * n)) for f, n in zip(remove_fraction, counts)], seed)


def long_tail_counts(n_max: int, ratio: float, num_classes: int) -> list:
    """Images per class of the long-tailed profile: ``int(n_max * (1/R) ** (c / (K-1)))`` for class c (0-based).

    Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss" (NeurIPS 2019), written
    as their released CIFAR-10-LT code computes it (``img_max * imb_factor ** (c / (K - 1))`` with
    ``imb_factor = 1/R``), so the counts match theirs to the image: 5000, 2997, ..., 50 for R = 100."""
    if num_classes == 1:
        return [int(n_max)]
    return [int(n_max * (1.0 / ratio) ** (c / (num_classes - 1.0))) for c in range(num_classes)]


def suffix_keep(y: np.ndarray, kind: str, value, num_classes: int, dom_fraction: float, rare_fraction: float,
                seed: int) -> np.ndarray:
    """Indices of the training labels ``y`` a suffix keeps: ``dom``/``rare`` with 0-based classes ``value``,
    ``lt`` with the imbalance ratio ``value`` (n_max = the largest class's count)."""
    if kind == "lt":
        counts = np.bincount(y, minlength=num_classes)
        return keep_per_class(y, long_tail_counts(int(counts.max()), value, num_classes), seed)
    chosen = np.isin(np.arange(num_classes), value)
    frac = np.zeros(num_classes)
    frac[~chosen if kind == "dom" else chosen] = dom_fraction if kind == "dom" else rare_fraction
    return removal_keep(y, frac, seed)
