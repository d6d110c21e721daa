"""The per-class one-dimensional orderings GALAXY and DIRECT search along (registers nothing).

For class k every pool image gets the one-vs-rest margin score s_k(x) = p_k(x) - max_j p_j(x) +
1e-8 max_j p_j(x) (Zhang et al., GALAXY, ICML 2022, and LabelBench use exactly this; the 1e-8 term orders
the images predicted as k, whose margin is 0, by their confidence). Sorting by s_k, highest first, lays
the pool on a line with the likely positives of k at the top (position 0); class k's boundary is a
threshold on that line, found with labels "is this image of class k?". Ties in s_k keep the order of the
rows (a stable sort). A threshold t means: positions < t are predicted positive, positions >= t negative.
"""
import numpy as np


def one_vs_rest_scores(probs) -> np.ndarray:
    """N x K margin scores s_k(x) = p_k - max_j p_j + 1e-8 max_j p_j (higher = more likely class k)."""
    probs = np.asarray(probs, dtype=np.float64)
    top = probs.max(axis=1, keepdims=True)
    return probs - top + 1e-8 * top


def class_orderings(probs) -> np.ndarray:
    """K x N: row k lists the pool's rows by decreasing s_k (stable, so ties keep the row order)."""
    scores = one_vs_rest_scores(probs)
    return np.stack([np.argsort(-scores[:, k], kind="stable") for k in range(scores.shape[1])]).astype(np.int64)


def threshold_accuracies(signs) -> np.ndarray:
    """(correct - wrong) labels of every threshold t = 0..n along a line of ``signs`` (+1 positive, -1
    negative, 0 unknown): sum of signs before t minus sum of signs from t on."""
    signs = np.asarray(signs, dtype=np.int64)
    before = np.concatenate([[0], np.cumsum(signs)])
    return 2 * before - before[-1]


class OrderedLabels:
    """The labels known so far (labelled pool + oracle reveals) of the pool's rows, read along any class's
    ordering; ``labels`` uses -1 for "not known yet"."""

    def __init__(self, probs, labels):
        self.order = class_orderings(probs)
        self.label = np.array(labels, dtype=np.int64)
        if len(self.label) != self.order.shape[1]:
            raise ValueError(f"{len(self.label)} labels for {self.order.shape[1]} rows of probabilities")

    @property
    def num_classes(self) -> int:
        return self.order.shape[0]

    def known(self, k: int) -> np.ndarray:
        return self.label[self.order[k]] >= 0

    def positive(self, k: int) -> np.ndarray:
        return self.label[self.order[k]] == k

    def signs(self, k: int) -> np.ndarray:
        """+1 / -1 / 0 (positive of k, negative, unknown) along class k's ordering."""
        lab = self.label[self.order[k]]
        return np.where(lab < 0, 0, np.where(lab == k, 1, -1))

    def unknown_rows(self) -> np.ndarray:
        return np.flatnonzero(self.label < 0)

    def ask(self, oracle, rows) -> np.ndarray:
        """Reveal ``rows`` through ``oracle`` (rows -> labels) and remember their labels."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows):
            self.label[rows] = np.asarray(oracle(rows), dtype=np.int64)
        return self.label[rows]


def pool_rows(pool):
    """(rows, labels, oracle) for a Pool: rows = labelled then unlabelled dataset indices, labels with -1
    for the unlabelled ones, and an oracle that buys labels of rows through ``pool.reveal``."""
    rows = np.concatenate([pool.labelled, pool.unlabelled]).astype(np.int64)
    labels = np.concatenate([pool.labelled_labels, np.full(len(pool.unlabelled), -1)]).astype(np.int64)
    return rows, labels, lambda r: pool.reveal(rows[np.asarray(r, np.int64)])
