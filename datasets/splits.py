"""Stratified splits, one rule (``stratified_draw``): ``ceil(fraction * n_c)`` images of each class c, drawn
without replacement, class by class in label order. A leaf module: it imports nothing of albench."""
import numpy as np

VALIDATION_STREAM = 0x7A11D  # separates the validation split's stream from the trial's own SeedSequence


def stratified_draw(y: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``ceil(fraction * n_c)`` images of each class c of ``y``, drawn by ``rng``, class by class."""
    parts = [rng.choice(np.flatnonzero(y == c), int(np.ceil(fraction * np.sum(y == c))), replace=False)
             for c in np.unique(y)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def validation_split(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a trial's stratified validation split, drawn from the seed's own stream (carved after
    the imbalance removal; never labelled, never selectable); empty for ``fraction <= 0``."""
    if fraction <= 0:
        return np.zeros(0, np.int64)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), VALIDATION_STREAM]))
    return np.sort(stratified_draw(y, fraction, rng)).astype(np.int64)


def stratified_split(y: np.ndarray, test_fraction: float, seed: int):
    """(train, test) index arrays of a data source without a test split of its own, order kept."""
    mask = np.zeros(len(y), bool)
    mask[stratified_draw(y, test_fraction, np.random.default_rng(seed))] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def split_arrays(x, y, classes, test_fraction, seed, source):
    """A loader's dict from one labelled set, split by ``stratified_split``."""
    tr, te = stratified_split(y, test_fraction, seed)
    return dict(x_train=x[tr], y_train=y[tr], x_test=x[te], y_test=y[te], classes=classes, source=source)
