"""The pool a strategy sees: training images, labelled/unlabelled indices, labelled labels only, the frozen
classifier, a seeded numpy Generator and the torch device.

Labels of unlabelled indices cannot be read: ``labels(idx)`` raises ``LabelLeakError`` for any index
outside the labelled pool, and the label array itself is kept in a closure, not an attribute.  Images
are served as stored (uint8, never augmented).
"""
from typing import Callable

import numpy as np
import torch

from bench.train import autocast


class LabelLeakError(PermissionError):
    """A strategy asked for the label of an unlabelled image."""


def _label_reader(y: np.ndarray, labelled_mask: np.ndarray) -> Callable:
    y, labelled_mask = y.copy(), labelled_mask.copy()

    def read(idx) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        bad = idx[~labelled_mask[idx]] if idx.size else idx
        if bad.size:
            raise LabelLeakError(f"{bad.size} requested label(s) belong to unlabelled images "
                                 f"(e.g. index {int(bad[0])}); only labelled labels are visible")
        return y[idx].copy()

    return read


class Pool:
    def __init__(self, x: torch.Tensor, y: np.ndarray, labelled: np.ndarray, model, num_classes: int,
                 rng: np.random.Generator, device=None, batch_size: int = 1024, classes=()):
        n = len(x)
        mask = np.zeros(n, bool)
        mask[np.asarray(labelled, np.int64)] = True
        self.x = x                                  # uint8 N x C x H x W on `device`, never augmented
        self.labelled = np.flatnonzero(mask)        # sorted dataset indices
        self.unlabelled = np.flatnonzero(~mask)
        self.labelled.flags.writeable = False
        self.unlabelled.flags.writeable = False
        self.model = model                          # frozen classifier (eval mode, no grad)
        self.num_classes = num_classes
        self.classes = tuple(classes)
        self.rng = rng
        self.device = torch.device(device) if device is not None else x.device
        self.batch_size = batch_size
        self._read = _label_reader(np.asarray(y, np.int64), mask)

    def __len__(self):
        return len(self.x)

    def labels(self, idx) -> np.ndarray:
        """Labels of labelled indices; LabelLeakError for any unlabelled index."""
        return self._read(idx)

    @property
    def labelled_labels(self) -> np.ndarray:
        return self._read(self.labelled)

    def images(self, idx) -> torch.Tensor:
        return self.x[torch.as_tensor(np.array(idx, np.int64), device=self.x.device)]

    def torch_seed(self) -> int:
        """An integer from the pool's Generator, for strategies that seed torch (their own nets, dropout)."""
        return int(self.rng.integers(2 ** 62))

    @torch.no_grad()
    def map(self, idx, fn: Callable, model=None) -> torch.Tensor:
        """Concatenate ``fn(outputs)`` over batches of the (frozen) model's ``Outputs`` for images ``idx``."""
        model = model or self.model
        idx = np.asarray(idx, np.int64)
        outs = []
        for i in range(0, len(idx), self.batch_size):
            with autocast(self.device):
                o = model.forward_all(self.images(idx[i:i + self.batch_size]))
            outs.append(fn(o))
        return torch.cat(outs) if outs else torch.zeros(0, device=self.device)

    def logits(self, idx) -> torch.Tensor:
        return self.map(idx, lambda o: o.logits.float())

    def probs(self, idx) -> torch.Tensor:
        return torch.softmax(self.logits(idx), dim=1)

    def embeddings(self, idx) -> torch.Tensor:
        """The penultimate embedding (pooled output of the last residual block), float32."""
        return self.map(idx, lambda o: o.embedding.float())

    def pooled_features(self, idx, with_logits: bool = False):
        """The four residual-block feature maps, globally average-pooled: a list of N x C_i float32
        (and the logits from the same forward pass, with ``with_logits``)."""
        dims = np.cumsum([0] + list(self.model.feature_dims))
        cat = self.map(idx, lambda o: torch.cat([f.float().mean(dim=(2, 3)) for f in o.features]
                                                + ([o.logits.float()] if with_logits else []), 1))
        feats = [cat[:, a:b] for a, b in zip(dims[:-1], dims[1:])]
        return (feats, cat[:, dims[-1]:]) if with_logits else feats
