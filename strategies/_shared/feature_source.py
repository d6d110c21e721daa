"""The feature source TypiClust and ProbCover cluster and cover on (a helper: it registers no strategy).

``features="embedding"`` (the default) is the scoring classifier's penultimate embedding of the pool's
images (TypiClust-clf / ProbCover-clf: both papers use self-supervised SimCLR features of the training images
instead). Any other value is the path of a per-dataset ``.npy`` file with one row per
image of the base dataset's training split (before any imbalance removal), read at
``pool.source_rows(idx)``; a file too short for the pool's rows is a ValueError naming it, and its sha256
goes into the trial's identity through the strategy's ``provenance()``. A relative path is relative to
the working directory; ``~`` is expanded.

``normalise=True`` divides every row by its L2 norm, as both authors' codes do with their SimCLR / DINO
features (TypiClust repo, ``pycls/datasets/utils/features.py``: ``load_features(normalized=True)``).
"""
import hashlib
import json
import os
import re

import numpy as np
import torch

from bench.core.config import features_root

EMBEDDING = "embedding"
NAMED = re.compile(r"[a-z][a-z0-9_]*")   # a named feature set (``simclr``), not a path


def is_named(features) -> bool:
    return features != EMBEDDING and bool(NAMED.fullmatch(str(features)))


def named_feature_file(name: str, dataset) -> str:
    """The ``.npy`` of the feature set ``name`` made by ``albench features`` for ``dataset``'s base
    (``<features root>/<base>/<name>.npy``); ValueError naming the command that makes it when it is missing,
    when it was made from other data than this dataset's (its provenance records the data's fingerprint), or
    when it is not the file its provenance names (its sha256: a remake on another CPU is put in place only by
    ``albench features --adopt``, which records it)."""
    base = getattr(dataset, "base", "") or str(getattr(dataset, "spec", ""))
    folder = os.path.join(features_root(), re.sub(r"[^A-Za-z0-9._+=-]", "_", base))
    path = os.path.join(folder, f"{name}.npy")
    if not os.path.isfile(path):
        raise ValueError(f"no {name!r} features of {base} here ({path} does not exist): they are tracked in git "
                         f"where made for this project (git checkout -- {path}); else make them with `albench "
                         f"features --data {base} --method {name}` (or set ALBENCH_FEATURES to where they are)")
    try:
        with open(os.path.join(folder, f"{name}.json")) as f:
            record = json.load(f)
    except (OSError, ValueError):
        record = {}
    made_from = (record.get("run") or {}).get("data_fingerprint") if isinstance(record, dict) else None
    if made_from and getattr(dataset, "fingerprint", "") and made_from != dataset.fingerprint:
        raise ValueError(f"{path} was made from other {base} data (fingerprint {made_from}, this data's is "
                         f"{dataset.fingerprint}): make them again with `albench features --data {base} "
                         f"--method {name}`")
    recorded = record.get("features_sha256") if isinstance(record, dict) else None
    if recorded and file_sha256(path) != recorded:
        raise ValueError(f"{path} is not the file its record {name}.json names (sha256 {recorded[:16]}...): "
                         f"restore it (git checkout -- {path}) or run `albench features --data {base} --method "
                         f"{name}`, which makes it again from the weights and checks it")
    return path


def feature_path(features) -> str:
    return os.path.abspath(os.path.expanduser(str(features)))


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_features(features, dataset) -> str:
    """``features`` as a source ``load_features`` reads: the embedding, a named set's file for ``dataset``'s base
    (``named_feature_file``), or the given path made absolute."""
    if features == EMBEDDING:
        return EMBEDDING
    return named_feature_file(features, dataset) if is_named(features) else feature_path(features)


def on_embedding(strategy):
    """``strategy.for_planning()`` of a strategy with a ``features`` parameter: a copy on the classifier's
    embedding (a named set or a file belongs to a dataset, and a plan times selections on synthetic pools)."""
    if strategy.features == EMBEDDING:
        return strategy, 1.0
    return type(strategy)(**dict(strategy.get_params(), features=EMBEDDING)), 1.0


def feature_provenance(features) -> dict:
    """{} for the classifier's embedding; the file's absolute path and sha256 otherwise (its sha256 makes the
    features part of the trial's identity); a named set not yet resolved to its file: its name."""
    if features == EMBEDDING:
        return {}
    if is_named(features):
        return {"features": features}
    path = feature_path(features)
    return {"features": path, "features_sha256": file_sha256(path)}


def read_feature_rows(path, rows: np.ndarray) -> np.ndarray:
    """float32 rows ``rows`` of the 2-D ``.npy`` at ``path`` (memory-mapped: only those rows are read)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"feature file {path} does not exist (features= takes 'embedding' or the "
                                f"path of a .npy with one row per image of the base training split)")
    table = np.load(path, mmap_mode="r")
    if table.ndim != 2:
        raise ValueError(f"feature file {path} holds an array of shape {table.shape}; expected rows x dims")
    if len(rows) and int(rows.max()) >= len(table):
        raise ValueError(f"feature file {path} has {len(table)} rows, but this pool's images need row "
                         f"{int(rows.max())} of the base training split: the file must hold one row per "
                         f"base training image, in the dataset's order")
    return np.asarray(table[rows], dtype=np.float32)


def load_features(pool, idx, features=EMBEDDING, normalise: bool = True) -> torch.Tensor:
    """N x D float32 features of dataset indices ``idx`` on ``pool.device``, from the source ``features``."""
    idx = np.asarray(idx, np.int64)
    if features == EMBEDDING:
        feats = pool.embeddings(idx).float()
    else:
        rows = read_feature_rows(feature_path(features), pool.source_rows(idx))
        feats = torch.from_numpy(rows).to(pool.device)
    if normalise:
        feats = feats / feats.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return feats


def sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances, len(a) x len(b), through one matrix product (clamped at 0)."""
    return (a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1) - 2 * a @ b.T).clamp_min_(0)


def check_feature_file(features, dataset) -> None:
    """ValueError (naming the file) unless ``features`` is the embedding or a .npy with a row for every base
    training image ``dataset`` uses: checked before any training, not after round 0's."""
    if features == EMBEDDING:
        return
    index = getattr(dataset, "train_index", None)
    rows = (int(np.max(index)) + 1) if index is not None and len(index) else len(dataset.y_train)
    try:
        read_feature_rows(feature_path(features), np.array([rows - 1], np.int64))
    except (FileNotFoundError, ValueError, OSError) as err:
        raise ValueError(str(err)) from None


class FeatureSourced:
    """What a strategy with a ``features`` parameter shares (TypiClust, ProbCover, MaxHerding, SIMILAR): a named
    set resolved to its file for the trial's dataset before any training (``check_data``), the file's hash in
    the trial's identity (``provenance``), and plans timed on the embedding (``for_planning``). Mixed in before
    ``Strategy``; the resolved source is ``source_`` (the parameter itself until ``check_data``)."""

    def for_planning(self):
        return on_embedding(self)

    def provenance(self):
        return feature_provenance(self.source)

    def check_data(self, dataset):
        self.source_ = resolve_features(self.features, dataset)   # a named set: its file for this base
        check_feature_file(self.source_, dataset)

    @property
    def source(self):
        return getattr(self, "source_", self.features)
