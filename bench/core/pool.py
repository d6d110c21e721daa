"""The pool a strategy sees: training images, labelled/unlabelled indices, labelled labels only, the frozen
models, a seeded numpy Generator and the torch device.

Labels of unlabelled indices cannot be read: ``labels(idx)`` raises ``LabelLeakError`` for any index
outside the labelled pool, and the label array itself is kept in a closure, not an attribute.  The one
way to a label of an unlabelled image is the budget-charged oracle, ``reveal(idx)``: every index it
reveals counts against the round's budget and must be part of the strategy's selection (the loop checks
this and records the order of reveals).  Held-out indices (a validation split) are neither labelled nor
unlabelled: no strategy can select them or read their labels.  Images are served as stored (uint8,
never augmented).  Forward passes run in the trial's ``precision`` (``bench.core.device``); a strategy that runs
its own network uses ``pool.autocast()`` for the same arithmetic.  A pool built with ``keep_passes=True`` (the
loop's, one per round) keeps the logits and embedding of an index sequence from one forward pass: a strategy that
asks twice (a balanced wrapper's scores and predicted classes, TAILOR's arms) gets the same numbers without a
second pass, bit for bit, since the batches are the same.
"""
import weakref
from typing import Callable

import numpy as np
import torch
from torch import nn

from bench.core.device import autocast, inference_batch, resolve_precision
from bench.core.predict import forward_batches


class LabelLeakError(PermissionError):
    """A strategy asked for the label of an unlabelled (or held-out) image."""


class BudgetExceededError(LabelLeakError):
    """A strategy asked the oracle for more labels than the round's budget."""


def _label_oracle(y: np.ndarray, labelled_mask: np.ndarray, selectable_mask: np.ndarray, budget,
                  true_labels: bool = False):
    """(read, reveal, revealed, peek) closures over private copies of the labels and masks."""
    y, readable, selectable = y.copy(), labelled_mask.copy(), selectable_mask.copy()
    order = []

    def peek(idx) -> np.ndarray:
        if not true_labels:
            raise LabelLeakError("true_labels() is only open to reference strategies that declare "
                                 "reads_true_labels (they are marked as not deployable in every result)")
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size and (~selectable[idx] & ~readable[idx]).any():
            raise LabelLeakError("true_labels(): held-out indices are never readable")
        return y[idx].copy()

    def read(idx) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        bad = idx[~readable[idx]] if idx.size else idx
        if bad.size:
            raise LabelLeakError(f"{bad.size} requested label(s) belong to unlabelled images "
                                 f"(e.g. index {int(bad[0])}); only labelled labels are visible "
                                 "(pool.reveal(idx) buys labels from the round's budget)")
        return y[idx].copy()

    def reveal(idx) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64).ravel()
        outside = idx[~selectable[idx]] if idx.size else idx
        if outside.size:
            raise LabelLeakError(f"reveal: index {int(outside[0])} is not in the unlabelled pool")
        new = list(dict.fromkeys(int(i) for i in idx if not readable[i]))
        if budget is None or len(order) + len(new) > budget:
            raise BudgetExceededError(
                f"reveal: {len(order)} label(s) revealed so far + {len(new)} new > this round's budget of "
                f"{budget}; every revealed image counts against the budget")
        order.extend(new)
        readable[new] = True
        return y[idx].copy()

    return read, reveal, lambda: np.array(order, dtype=np.int64), peek


def finite(values: torch.Tensor, what: str) -> torch.Tensor:
    """``values`` (N x D), or ValueError naming how many rows hold a NaN or infinity."""
    bad = ~torch.isfinite(values).all(dim=1) if values.ndim == 2 else ~torch.isfinite(values)
    if bool(bad.any()):
        raise ValueError(f"the scoring model gives non-finite {what} for {int(bad.sum())} of {len(values)} images; "
                         "no selection can be made from them (did its training diverge?)")
    return values


KEPT_SETS = 3   # index sequences whose (logits, embedding) a pool keeps, the most recently asked


def frozen_state(model, x: torch.Tensor):
    """What a kept forward pass of ``model`` over images ``x`` stands on: (weak references to the model's parameters
    and buffers, their in-place version counters, storages, dtypes and devices, and the images'), compared by
    ``same_state``; None where nothing may be kept: a model that is not an ``nn.Module``, any of its modules in
    training mode (dropout would be replayed), or inference tensors (they count no versions). Not seen: writes
    through ``.data``, hooks and other attributes; a pool that keeps passes assumes its model frozen for its life."""
    if not isinstance(model, nn.Module) or x.is_inference():
        return None
    tensors = [*model.parameters(), *model.buffers(), x]
    if any(m.training for m in model.modules()) or any(t.is_inference() for t in tensors):
        return None
    return ([weakref.ref(t) for t in tensors],
            tuple((t._version, t.data_ptr(), t.dtype, t.device) for t in tensors), tensors)


def same_state(kept, now) -> bool:
    refs, sig, _ = kept
    return sig == now[1] and all(r() is t for r, t in zip(refs, now[2]))


class Pool:
    def __init__(self, x: torch.Tensor, y: np.ndarray, labelled: np.ndarray, model, num_classes: int,
                 rng: np.random.Generator, device=None, batch_size: int = 0, classes=(), classifier=None,
                 held_out=(), budget: int = None, source_index: np.ndarray = None, true_labels: bool = False,
                 precision: str = None, keep_passes: bool = False):
        n = len(x)
        mask = np.zeros(n, bool)
        mask[np.asarray(labelled, np.int64)] = True
        hidden = np.zeros(n, bool)
        hidden[np.asarray(held_out, np.int64)] = True
        if (mask & hidden).any():
            raise ValueError("an index is both labelled and held out")
        self.x = x                                  # uint8 N x C x H x W on `device`, never augmented
        self.labelled = np.flatnonzero(mask)        # sorted dataset indices
        self.unlabelled = np.flatnonzero(~mask & ~hidden)
        self.labelled.flags.writeable = False
        self.unlabelled.flags.writeable = False
        self.model = model                          # the frozen model the strategy scores with
        self.classifier = classifier if classifier is not None else model  # the evaluated classifier
        self.num_classes = num_classes
        self.classes = tuple(classes)
        self.rng = rng
        self.device = torch.device(device) if device is not None else x.device
        self.batch_size = inference_batch(batch_size, self.device)   # images per forward pass (0: the device's)
        self.precision = resolve_precision(precision, self.device)      # fp32 | bf16 (None: bf16 on CUDA only)
        self.budget = budget                        # labels the oracle may reveal this round (None: none)
        self._source_index = None if source_index is None else np.asarray(source_index, np.int64)
        self._read, self._reveal, self._revealed, self._peek = _label_oracle(
            np.asarray(y, np.int64), mask, ~mask & ~hidden, budget, true_labels)
        self.keep_passes = keep_passes   # keep one forward pass per index sequence (_kept_pass)
        self._kept = {}                  # index bytes -> (frozen_state without its tensors, logits, embedding)

    def __len__(self):
        return len(self.x)

    def labels(self, idx) -> np.ndarray:
        """Labels of labelled (or revealed) indices; LabelLeakError for any other index."""
        return self._read(idx)

    def reveal(self, idx) -> np.ndarray:
        """The oracle: labels of unlabelled images, each charged to this round's budget (BudgetExceededError
        past it). Every revealed index must be in the selection ``select`` returns."""
        return self._reveal(idx)

    def true_labels(self, idx) -> np.ndarray:
        """Labels of any non-held-out image, without charge: only for a pool built with ``true_labels=True``
        for a reference strategy that declares ``reads_true_labels`` (never a deployable method)."""
        return self._peek(idx)

    @property
    def revealed(self) -> np.ndarray:
        """Indices revealed by the oracle this round, in the order they were revealed."""
        return self._revealed()

    @property
    def labelled_labels(self) -> np.ndarray:
        return self._read(self.labelled)

    def source_rows(self, idx) -> np.ndarray:
        """Rows of images ``idx`` in the base dataset's training split, before any imbalance removal: what a
        per-dataset feature file (one row per base training image) is indexed by."""
        idx = np.asarray(idx, np.int64)
        return idx.copy() if self._source_index is None else self._source_index[idx]

    def images(self, idx) -> torch.Tensor:
        return self.x[torch.as_tensor(np.array(idx, np.int64), device=self.x.device)]

    def autocast(self):
        """The pool's arithmetic (its ``precision``) for a strategy's own forward passes and networks."""
        return autocast(self.device, self.precision)

    def torch_seed(self) -> int:
        """An integer from the pool's Generator, for strategies that seed torch (their own nets, dropout)."""
        return int(self.rng.integers(2 ** 62))

    def map(self, idx, fn: Callable, model=None) -> torch.Tensor:
        """Concatenate ``fn(outputs)`` over batches of the (frozen) model's ``Outputs`` for images ``idx``."""
        idx = np.asarray(idx, np.int64)
        return forward_batches(model or self.model, lambda i, j: self.images(idx[i:j]), len(idx), self.batch_size, fn,
                               self.device, self.precision)

    def _kept_pass(self, idx):
        """(logits, embedding or None) of the scoring model for images ``idx``, float32, from one forward pass over
        them in the order given, kept (``KEPT_SETS`` sequences at most) while ``frozen_state`` is unchanged; None
        where nothing may be kept. The caller copies what it hands out."""
        idx = np.asarray(idx, np.int64)
        state = frozen_state(self.model, self.x) if self.keep_passes and len(idx) else None
        if state is None:
            return None
        key = idx.tobytes()
        hit = self._kept.pop(key, None)
        if hit is None or not same_state(hit[0], state):
            width = []

            def both(o):
                width[:] = [o.logits.shape[1], o.embedding is not None]
                return torch.cat([o.logits.float()] + ([o.embedding.float()] if width[1] else []), 1)

            out = self.map(idx, both)
            k = width[0]
            hit = (state[:2] + (None,), out[:, :k].contiguous(), out[:, k:].contiguous() if width[1] else None)
            while len(self._kept) >= KEPT_SETS:
                self._kept.pop(next(iter(self._kept)))
        self._kept[key] = hit   # the most recently asked last
        return hit[1], hit[2]

    def logits(self, idx) -> torch.Tensor:
        kept = self._kept_pass(idx)
        return kept[0].clone() if kept else self.map(idx, lambda o: o.logits.float())

    def probs(self, idx) -> torch.Tensor:
        return torch.softmax(self.logits(idx), dim=1)

    def embeddings(self, idx) -> torch.Tensor:
        """The penultimate embedding (pooled output of the last residual block), float32; ValueError where the
        model gives a non-finite one (no strategy sees NaN distances: CoreSet would pick the first indices)."""
        kept = self._kept_pass(idx)
        if kept and kept[1] is not None:
            return finite(kept[1].clone(), "embeddings")
        return finite(self.map(idx, lambda o: o.embedding.float()), "embeddings")

    def last_layer(self):
        """(weight K x D, bias K) of the scoring model's final linear layer, float32: logits = emb @ W.T + b."""
        fc = self.model.fc
        bias = fc.bias if fc.bias is not None else torch.zeros(fc.weight.shape[0], device=fc.weight.device)
        return fc.weight.detach().float(), bias.detach().float()

    def pooled_features(self, idx, with_logits: bool = False):
        """The model's feature maps (albench's ResNet: its four residual blocks; an adapted user model: the
        layers it taps), globally average-pooled: a list of N x C_i float32 (and the logits from the same
        forward pass, with ``with_logits``)."""
        dims = np.cumsum([0] + list(self.model.feature_dims))
        cat = finite(self.map(idx, lambda o: torch.cat([f.float().mean(dim=(2, 3)) for f in o.features]
                                                       + ([o.logits.float()] if with_logits else []), 1)), "features")
        feats = [cat[:, a:b] for a, b in zip(dims[:-1], dims[1:])]
        return (feats, cat[:, dims[-1]:]) if with_logits else feats
