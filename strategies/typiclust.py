"""TypiClust (Hacohen, Dekel & Weinshall, "Active Learning on a Budget: Opposite Strategies Suit High and
Low Budgets", ICML 2022), as the authors' code runs it (avihu111/TypiClust ``deep-al/pycls/al/typiclust.py``).

1. k-means of the labelled + unlabelled features into C = min(|L| + B, ``max_clusters`` = 500) clusters:
   sklearn ``KMeans`` for C <= 50, else ``MiniBatchKMeans(batch_size=5000)``, as the authors.
2. clusters of <= ``min_cluster_size`` = 5 points are dropped; the rest are ordered once by (labelled
   points in the cluster, ascending; size, descending) and visited round-robin, one pick per visit.
3. in the visited cluster, among its points neither labelled nor picked yet, take the most typical:
   Typ(x) = 1 / (mean distance to its k nearest neighbours + 1e-5), k = min(``knn`` = 20, n // 2), the
   neighbours searched within that set (the authors recompute it after each pick the same way).

Choices left open, and ours:
- features: ``features="embedding"`` (the classifier's penultimate embedding: "TypiClust-clf", not the
  paper's self-supervised features), ``features="simclr"`` (the paper's kind: SimCLR features of the base
  training images made by ``albench features``) or a per-dataset ``.npy`` (strategies/_shared/feature_source.py);
  L2-normalised with ``normalise=True`` as the authors.
- ``squared_distances=True``: the authors' faiss ``IndexFlatL2`` returns squared L2, so their typicality
  is the inverse mean *squared* distance; the paper writes L2 (``False``). The two can rank differently.
- k-means seed: one integer from ``pool.rng``; sklearn's default ``n_init`` ("auto").
- ties: cluster order ties go to the lower cluster id, typicality ties to the lower dataset position;
  a cluster with one free point (k = 0) gives that point (the authors' code yields NaN typicality there
  and argmax returns it too).
- edge cases the authors' code does not reach: a visited cluster with no free point left is skipped; when
  no kept cluster has a free point (e.g. budget >= pool), the remaining picks are uniform random from the
  free unlabelled points, drawn from ``pool.rng``.
Memory: neighbours are found in row chunks (``chunk`` x cluster size), never a pool x pool matrix.
"""
import numpy as np
import torch
from sklearn.cluster import KMeans, MiniBatchKMeans

from strategies._api import Strategy, register
from strategies._shared.feature_source import (
    EMBEDDING,
    FeatureSourced,
    load_features,
    sq_dists,
)


def kmeans_labels(feats: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """Cluster ids as the authors compute them (KMeans up to 50 clusters, MiniBatchKMeans beyond)."""
    if n_clusters <= 50:
        km = KMeans(n_clusters=n_clusters, random_state=seed)
    else:
        km = MiniBatchKMeans(n_clusters=n_clusters, batch_size=5000, random_state=seed)
    return km.fit_predict(feats).astype(np.int64)


@torch.no_grad()
def typicality(feats: torch.Tensor, knn: int, squared: bool = True, chunk: int = 2048) -> torch.Tensor:
    """1 / (mean distance to the ``knn`` nearest other rows + 1e-5), float64; all ones when knn < 1."""
    n = len(feats)
    if knn < 1:
        return torch.ones(n, dtype=torch.float64, device=feats.device)
    feats = feats.double()
    out = []
    for i in range(0, n, chunk):
        d = sq_dists(feats[i:i + chunk], feats)
        rows = torch.arange(len(d), device=d.device)
        d[rows, rows + i] = float("inf")
        nearest = d.topk(knn, dim=1, largest=False).values
        out.append(1 / ((nearest if squared else nearest.sqrt()).mean(1) + 1e-5))
    return torch.cat(out)


def cluster_order(clusters: np.ndarray, labelled_mask: np.ndarray, min_cluster_size: int = 5) -> np.ndarray:
    """Ids of the clusters of more than ``min_cluster_size`` points, fewest labelled first, then largest."""
    ids, sizes = np.unique(clusters, return_counts=True)
    labelled = np.bincount(clusters[labelled_mask], minlength=ids.max() + 1)[ids] if len(ids) else ids
    keep = sizes > min_cluster_size
    ids, sizes, labelled = ids[keep], sizes[keep], labelled[keep]
    return ids[np.lexsort((ids, -sizes, labelled))]


def typiclust_select(feats: torch.Tensor, clusters: np.ndarray, labelled_mask: np.ndarray, k: int,
                     rng: np.random.Generator, knn: int = 20, min_cluster_size: int = 5, squared: bool = True,
                     chunk: int = 2048):
    """(positions of ``k`` picks, number drawn at random because no kept cluster had a free point left)."""
    free = ~np.asarray(labelled_mask, bool)
    k = min(int(k), int(free.sum()))
    members = {int(c): np.flatnonzero(clusters == c) for c in cluster_order(clusters, ~free, min_cluster_size)}
    active, pos, picks = list(members), 0, []
    while len(picks) < k and active:
        c = active[pos]
        cand = members[c][free[members[c]]]
        if len(cand) == 0:
            active.pop(pos)
            pos = pos % len(active) if active else 0
            continue
        typ = typicality(feats[torch.as_tensor(cand, device=feats.device)], min(knn, len(cand) // 2), squared, chunk)
        picks.append(int(cand[int(typ.argmax())]))
        free[picks[-1]] = False
        pos = (pos + 1) % len(active)
    n_random = k - len(picks)
    if n_random:
        picks.extend(rng.choice(np.flatnonzero(free), n_random, replace=False).tolist())
    return np.asarray(picks, dtype=np.int64), n_random


@register("typiclust")
class TypiClust(FeatureSourced, Strategy):
    def __init__(self, features: str = EMBEDDING, normalise: bool = True, max_clusters: int = 500,
                 min_cluster_size: int = 5, knn: int = 20, squared_distances: bool = True, chunk: int = 2048):
        self.features = features                    # "embedding", a named set ("simclr") or a .npy path
        self.normalise = normalise                  # L2-normalise the features (authors: yes)
        self.max_clusters = max_clusters            # cap on C = |L| + B (authors: 500)
        self.min_cluster_size = min_cluster_size    # clusters of <= this many points are dropped (authors: 5)
        self.knn = knn                              # neighbours of the typicality (authors: 20)
        self.squared_distances = squared_distances  # authors' code: squared L2 (faiss); paper: L2
        self.chunk = chunk                          # rows per distance chunk (memory)

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        everything = np.concatenate([pool.labelled, pool.unlabelled])
        feats = load_features(pool, everything, self.source, self.normalise)
        n_clusters = min(len(pool.labelled) + k, self.max_clusters, len(everything))
        clusters = kmeans_labels(feats.cpu().numpy(), n_clusters, int(pool.rng.integers(2 ** 31 - 1)))
        labelled_mask = np.arange(len(everything)) < len(pool.labelled)
        picks, n_random = typiclust_select(feats, clusters, labelled_mask, k, pool.rng, self.knn,
                                           self.min_cluster_size, self.squared_distances, self.chunk)
        self.diagnostics_ = {"n_clusters": int(n_clusters), "uniform_fallback_picks": int(n_random),
                             "kept_clusters": int(len(cluster_order(clusters, labelled_mask, self.min_cluster_size)))}
        return everything[picks]
