"""Cluster-Margin (Citovsky, DeSalvo, Gentile, Karydas, Rajagopalan, Rostamizadeh & Kumar, "Batch Active
Learning at Scale", NeurIPS 2021): the lowest-margin images, spread over clusters of the embedding.

Rule: cluster the pool's embeddings by hierarchical agglomerative clustering with average linkage; take the
k_m = ``margin_factor`` x budget unlabelled images of smallest margin (largest ``margin`` score); group them
by cluster, order the clusters by how many of those images they hold, fewest first, and take one image per
cluster in that order, round after round, until the budget is filled. Choices left open, and ours:
- No code of the authors is public. As the GALAXY authors' re-implementation (``src/cluster_margin``): k_m =
  1.25 B; the clustering runs on a uniform random subset of ``hac_points`` = 1,000 pool images (exact
  average linkage is O(N^2) memory), cut where the mean cluster size reaches 2 (``hac_points / 2``
  clusters), and every pool image joins the cluster of the nearest centroid (Euclidean, on the classifier's
  penultimate embedding).
- The paper clusters once, on the model of the seed round, and keeps the clusters; here they are computed
  again every round from that round's classifier, because an albench trial resumes after a kill from its
  saved rounds (a clustering held in memory would not survive that, and the resumed trial's picks would
  differ from an uninterrupted one's).
- Within a cluster the images are taken in random order; clusters holding as many images are ordered at
  random (both from ``pool.rng``). The subset, the cut and the cluster sizes go into the diagnostics.
"""
import math

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage

from strategies._api import Strategy, register, top_k
from strategies._shared.feature_source import sq_dists
from strategies.margin import margin_scores


def round_robin(groups: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of ``k`` items taken one per group per pass, groups with fewest items first (ties at
    random), items in random order within a group."""
    ids, sizes = np.unique(groups, return_counts=True)
    order = ids[np.lexsort((rng.random(len(ids)), sizes))]
    queues = [list(rng.permutation(np.flatnonzero(groups == g))) for g in order]
    picks = []
    while len(picks) < k and any(queues):
        for q in queues:
            if q and len(picks) < k:
                picks.append(q.pop(0))
    return np.asarray(picks, np.int64)


def hac_clusters(emb: torch.Tensor, hac_points: int, rng: np.random.Generator):
    """Each row's cluster: average-linkage clusters of a random subset of ``hac_points`` rows (cut at
    ``hac_points // 2`` clusters), every row assigned to the nearest cluster centroid; and what was done."""
    n = len(emb)
    subset = np.sort(rng.choice(n, min(hac_points, n), replace=False))
    sub = emb[torch.as_tensor(subset, device=emb.device)].double().cpu().numpy()
    n_clusters = max(1, len(subset) // 2)
    if len(subset) < 2:
        labels = np.zeros(len(subset), np.int64)
    else:
        tree = linkage(sub, method="average", metric="euclidean")
        labels = fcluster(tree, t=n_clusters, criterion="maxclust") - 1
    k = int(labels.max()) + 1
    centroids = torch.stack([torch.from_numpy(sub[labels == c].mean(0)) for c in range(k)]).to(emb)
    assign = torch.cat([sq_dists(emb[i:i + 4096], centroids).argmin(1) for i in range(0, n, 4096)])
    return assign.cpu().numpy(), {"hac_subset": int(len(subset)), "clusters": k}


@register("cluster_margin")
class ClusterMargin(Strategy):
    def __init__(self, margin_factor: float = 1.25, hac_points: int = 1000):
        self.margin_factor = margin_factor   # k_m = margin_factor x budget lowest-margin candidates (1.25)
        self.hac_points = hac_points         # images clustered by average linkage; the rest join a centroid

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        if not self.margin_factor >= 1:
            raise ValueError(f"margin_factor must be >= 1 (k_m >= budget), got {self.margin_factor}")
        everything = np.concatenate([pool.labelled, pool.unlabelled])
        clusters, info = hac_clusters(pool.embeddings(everything).float(), self.hac_points, pool.rng)
        unl_clusters = clusters[len(pool.labelled):]
        k_m = min(len(pool.unlabelled), max(k, math.ceil(self.margin_factor * k)))
        cand = top_k(margin_scores(pool.probs(pool.unlabelled).double()).cpu().numpy(), k_m, pool.rng)
        picks = round_robin(unl_clusters[cand], k, pool.rng)
        self.diagnostics_ = {**info, "k_m": int(k_m), "candidate_clusters": int(len(np.unique(unl_clusters[cand])))}
        return pool.unlabelled[cand[picks]]
