"""GALAXY (Zhang, Katz-Samuels & Nowak, "GALAXY: Graph-based Active Learning at the Extreme", ICML 2022;
authors' code jifanz/GALAXY, re-implemented in LabelBench ``strategy_impl/galaxy.py``).

Each class k lays the whole pool (labelled and unlabelled) on a line by its one-vs-rest margin score
(``strategies._shared.margin_orderings``). Along that line the labelled images are "k" or "not k"; between two
neighbouring labelled images of different answers lies an unlabelled stretch holding the class boundary.
One query: pick a class, take the shortest such stretch on its line (the S^2 "shortest shortest path" of
the authors' path graph) and ask the oracle for the label of its midpoint (bisection). The label is
revealed at once through ``pool.reveal`` and every line sees it before the next query, so a stretch of m
unlabelled images is closed in ceil(log2(m + 1)) queries. The batch is ``budget`` such queries; the
network is retrained only between rounds, as in the authors' code.

Choices the paper leaves open, all stated here:
- ``class_choice``: ``"round_robin"`` cycles k = 0, 1, ..., K-1, 0, ... over the batch's queries, as the
  authors' code (``graph.py``: ``s2_iteration % K``); ``"random"`` draws k uniformly from ``pool.rng``
  for each query, as LabelBench.
- Equally short stretches: the one nearest the top of the line (highest scores) is bisected; the
  midpoint of positions a < b is floor((a + b) / 2).
- When bisection runs dry on the chosen line (every boundary found is tight: no unlabelled image between
  two labelled images of different answers), the authors add edges i <-> i +- r to the path graph with a
  growing r, which makes the next query the unlabelled image closest to a boundary already found. On a
  line this is: query the unlabelled image nearest to the midpoint of any tight boundary (ties: the one
  higher on the line). When the line has no boundary at all (class k has no labelled image, or every
  known image is k), both reference codes query a uniformly random unlabelled image: so does this one.
- Images held out of the pool (a validation split) are not on the lines. Labels of the labelled pool
  are known answers on every line; the budget counts only the images revealed here.

Where this differs from the authors' graph code (found by re-implementing theirs on small hand-made inputs;
the bisection rule itself is the same), kept on purpose and stated:
- After a fallback query the authors keep the widened graph (the i <-> i +- r edges) for the rest of the
  batch; here every query starts again from the plain line, so a later query bisects a stretch where the
  authors' would still search near a tight boundary (about half of the first divergences seen).
- An even gap between a labelled negative above a labelled positive: the authors round the midpoint down
  the line, here the floor of (a + b) / 2 is taken in line positions (labels [neg, ?, ?, pos]: position 1
  here, 2 in theirs).
"""
import numpy as np

from strategies._api import Strategy, register
from strategies._shared.margin_orderings import OrderedLabels, pool_rows

CLASS_CHOICES = ("round_robin", "random")


def bisection_point(known, positive) -> int:
    """Position of the midpoint of the shortest unlabelled stretch between two neighbouring labelled
    positions with different answers along one line; -1 when there is none."""
    at = np.flatnonzero(known)
    if len(at) < 2:
        return -1
    cut = positive[at[1:]] != positive[at[:-1]]
    gap = np.diff(at) - 1
    open_ = np.flatnonzero(cut & (gap > 0))
    if not len(open_):
        return -1
    j = open_[np.argmin(gap[open_])]
    return int((at[j] + at[j + 1]) // 2)


def nearest_to_cut(known, positive) -> int:
    """Position of the unlabelled image nearest a boundary between neighbouring labelled positions with
    different answers; -1 when the line has no boundary or no unlabelled image."""
    at = np.flatnonzero(known)
    free = np.flatnonzero(~np.asarray(known))
    if len(at) < 2 or not len(free):
        return -1
    j = np.flatnonzero(positive[at[1:]] != positive[at[:-1]])
    if not len(j):
        return -1
    mids = (at[j] + at[j + 1]) / 2.0
    right = np.clip(np.searchsorted(mids, free), 0, len(mids) - 1)
    left = np.clip(right - 1, 0, len(mids) - 1)
    dist = np.minimum(np.abs(free - mids[left]), np.abs(free - mids[right]))
    return int(free[np.argmin(dist)])


def galaxy_select(probs, labels, budget: int, oracle, rng: np.random.Generator,
                  class_choice: str = "round_robin"):
    """Rows queried by GALAXY, in query order, and how each was chosen.

    ``probs``: N x K model probabilities of the pool's rows; ``labels``: their known labels (-1 unknown);
    ``oracle(rows)`` returns the labels of unknown rows (each call is one reveal)."""
    if class_choice not in CLASS_CHOICES:
        raise ValueError(f"class_choice must be one of {CLASS_CHOICES}, got {class_choice!r}")
    lines = OrderedLabels(probs, labels)
    budget = min(int(budget), len(lines.unknown_rows()))
    picks, how = [], {"bisection": 0, "near_boundary": 0, "random": 0}
    for q in range(budget):
        k = q % lines.num_classes if class_choice == "round_robin" else int(rng.integers(lines.num_classes))
        known, positive = lines.known(k), lines.positive(k)
        p, kind = bisection_point(known, positive), "bisection"
        if p < 0:
            p, kind = nearest_to_cut(known, positive), "near_boundary"
        if p < 0:
            row, kind = int(rng.choice(lines.unknown_rows())), "random"
        else:
            row = int(lines.order[k, p])
        lines.ask(oracle, [row])
        picks.append(row)
        how[kind] += 1
    return np.array(picks, dtype=np.int64), how


@register("galaxy")
class Galaxy(Strategy):
    buys_labels = True   # every pick is revealed inside the batch (pool.reveal)

    def __init__(self, class_choice: str = "round_robin"):
        if class_choice not in CLASS_CHOICES:
            raise ValueError(f"class_choice must be one of {CLASS_CHOICES}, got {class_choice!r}")
        self.class_choice = class_choice  # which line each query bisects (see the module docstring)

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        rows, labels, oracle = pool_rows(pool)
        probs = pool.probs(rows).double().cpu().numpy()
        picks, how = galaxy_select(probs, labels, k, oracle, pool.rng, self.class_choice)
        self.diagnostics_ = {"queries_by_rule": how}
        return rows[picks]
