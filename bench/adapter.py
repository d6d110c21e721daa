"""Strategies around any model: a ``Pool`` from your own trained torch classifier and your own tensors.

    from bench.adapter import pool_from_model
    pool = pool_from_model(model, x_uint8, labelled_idx, y_labelled, feature_layers=("block1", "block2"))
    picks = get_strategy("vabal").select(pool, budget)

``ModelAdapter`` wraps any ``nn.Module`` classifier and offers exactly what ``bench.core.pool.Pool`` asks of
``pool.model``: ``forward_all(x) -> Outputs(logits, embedding, features)``, ``feature_dims``, ``fc`` (for
``pool.last_layer()``) and ``eval()``. What it taps, by module path as in ``model.named_modules()``:
- logits: the model's output (an N x K tensor);
- embedding: the input of the final linear layer (``classifier_layer``; by default the model's last
  ``nn.Linear``), or the output of ``embedding_layer`` when named (globally average-pooled if 4-D,
  flattened otherwise);
- features: the outputs of ``feature_layers`` (forward hooks), 4-D maps kept as maps (``Pool`` pools them),
  N x C outputs served as N x C x 1 x 1; with no feature layers named, the embedding is the one feature map
  (VaB-AL's encoder takes however many maps the pool gives).

Frozen: ``forward_all`` runs the model in eval mode without gradients and then restores every module's
own train/eval flag, so a pool can be built and used inside someone else's training loop; the hooks
capture only during ``forward_all`` (the user's own forward passes keep nothing) and are removed by
``close()`` or when the adapter is garbage collected. Images reach the model through ``preprocess``
(default ``x.float() / 255``), applied to the uint8 images the pool serves.

Not available on an adapter: albench's ResNet internals (``drops``, ``stem_forward``, ``head``) that
BALD's MC-Dropout passes use; asking for them raises an AttributeError that says so.
"""
import difflib
import weakref
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from bench.core.models import Outputs
from bench.core.pool import Pool


class LayerNameError(KeyError):
    """A layer name that is not a module path of the model (the message lists the available ones)."""

    def __str__(self):
        return str(self.args[0])


def unit_interval(x: torch.Tensor) -> torch.Tensor:
    """The default ``preprocess``: uint8 images -> float in [0, 1]."""
    return x.float() / 255


def find_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule at path ``name``; LayerNameError listing the model's layer names otherwise."""
    layers = dict(model.named_modules())
    layers.pop("", None)
    if name not in layers:
        close = difflib.get_close_matches(str(name), list(layers), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise LayerNameError(f"{type(model).__name__} has no layer {name!r}.{hint} Layer names are module "
                             f"paths as in model.named_modules(): {', '.join(layers) or '(none)'}")
    return layers[name]


def _as_map(name: str, out) -> torch.Tensor:
    """A tapped feature layer's output as an N x C x H x W map (N x C -> N x C x 1 x 1)."""
    if not isinstance(out, torch.Tensor) or out.dim() not in (2, 4):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"feature layer {name!r} gives {shape}; a feature layer must output an N x C x H x W "
                         "map or an N x C vector")
    return out if out.dim() == 4 else out[:, :, None, None]


def _as_vector(out) -> torch.Tensor:
    """The embedding as N x D: a 4-D map is globally average-pooled, anything else flattened."""
    return out.mean(dim=(2, 3)) if out.dim() == 4 else out.flatten(1)


def _remove(handles):
    for h in handles:
        h.remove()
    handles.clear()


class ModelAdapter:
    """Any classifier seen as albench's scoring model (see the module docstring).

    ``example``: one or a few uint8 images (C x H x W or N x C x H x W) for the dry forward pass that finds
    the number of classes, the feature channels and whether logits = fc(embedding)."""

    training = False

    def __init__(self, model: nn.Module, example, *, embedding_layer: Optional[str] = None,
                 feature_layers: Sequence[str] = (), classifier_layer: Optional[str] = None,
                 preprocess: Optional[Callable] = None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if isinstance(feature_layers, str):
            feature_layers = (feature_layers,)
        self.model = model
        self.preprocess = preprocess or unit_interval
        self.embedding_layer, self.feature_layers = embedding_layer, tuple(feature_layers)
        self.classifier_layer = classifier_layer
        self._fc = self._classifier(model, classifier_layer)
        store = self._store = {"on": False, "features": {}}   # the hooks see only this, never the adapter
        handles = []

        def keep(key):  # a copy: an in-place op after the layer (ReLU(inplace=True)) must not change it
            def hook(module, inputs, output):
                if store["on"]:
                    store["features"][key] = output.clone() if isinstance(output, torch.Tensor) else output
            return hook

        def keep_embedding(module, inputs, output):
            if store["on"]:
                store["embedding"] = output.clone() if isinstance(output, torch.Tensor) else output

        def keep_input(module, inputs):
            if store["on"]:
                store["embedding"] = inputs[0].clone()

        if embedding_layer is None and self._fc is None:
            raise ValueError(f"{type(model).__name__} has no nn.Linear layer to read the embedding from: name "
                             "the layer whose output is the embedding with embedding_layer=...")
        taps = [(find_layer(model, embedding_layer), "forward", keep_embedding) if embedding_layer is not None
                else (self._fc, "forward_pre", keep_input)]
        taps += [(find_layer(model, name), "forward", keep(name)) for name in self.feature_layers]
        for layer, kind, hook in taps:   # every name checked before the first hook goes in
            handles.append(layer.register_forward_pre_hook(hook) if kind == "forward_pre"
                           else layer.register_forward_hook(hook))
        self._finalizer = weakref.finalize(self, _remove, handles)
        try:
            self._dry_run(example)
        except Exception:
            self.close()
            raise

    @staticmethod
    def _classifier(model, name):
        if name is None:
            linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
            return linears[-1] if linears else None
        layer = find_layer(model, name)
        if not isinstance(layer, nn.Linear):
            raise TypeError(f"classifier_layer {name!r} is a {type(layer).__name__}, not an nn.Linear")
        return layer

    def _dry_run(self, example):
        x = torch.as_tensor(example)
        x = x[None] if x.dim() == 3 else x[:2]
        out = self.forward_all(x.to(self.device))
        self.num_classes = out.logits.shape[1]
        self.feature_dims = [f.shape[1] for f in out.features]
        self.embedding_dim = out.embedding.shape[1]
        fc, self._fc_problem = self._fc, None
        if fc is None:
            self._fc_problem = (f"{type(self.model).__name__} has no nn.Linear layer; name the final one with "
                                "classifier_layer=...")
        elif (fc.in_features, fc.out_features) != (self.embedding_dim, self.num_classes):
            self._fc_problem = (f"the classifier layer maps {fc.in_features} -> {fc.out_features} but the embedding "
                                f"has {self.embedding_dim} dimensions and the model {self.num_classes} logits")
        else:
            with torch.no_grad():
                again = fc(out.embedding.to(fc.weight.dtype)).float()
            scale = max(1.0, float(out.logits.abs().max()))
            if not torch.allclose(again, out.logits.float(), rtol=1e-3, atol=1e-4 * scale):
                self._fc_problem = ("the model's logits are not fc(embedding): the embedding is not the input of "
                                    "the classifier layer, or the model changes fc's output")
        if self._fc_problem:
            self._fc_problem += ("; pool.last_layer() (BADGE, BASE) needs logits = embedding @ W.T + b: leave "
                                 "embedding_layer unset to tap the classifier's input, or name the right "
                                 "classifier_layer")

    @property
    def device(self) -> torch.device:
        p = next(iter(self.model.parameters()), None)
        return p.device if p is not None else torch.device("cpu")

    @property
    def fc(self) -> nn.Linear:
        """The final linear layer (``pool.last_layer()``); ValueError if logits != fc(embedding)."""
        if self._fc_problem:
            raise ValueError(self._fc_problem)
        return self._fc

    def forward_all(self, x: torch.Tensor) -> Outputs:
        """Logits, embedding and feature maps of uint8 images ``x``, in eval mode and without gradients."""
        if not self._finalizer.alive:
            raise RuntimeError("this ModelAdapter is closed (its hooks are removed); build a new one")
        modes = [(m, m.training) for m in self.model.modules()]
        store = self._store
        try:
            self.model.eval()
            store["on"] = True
            with torch.no_grad():
                logits = self.model(self.preprocess(x))
            if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
                got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
                raise ValueError(f"the model must return N x K logits, got {got}")
            missing = [n for n in self.feature_layers if n not in store["features"]]
            if "embedding" not in store:
                missing.insert(0, self.embedding_layer or f"{self.classifier_layer or 'the last nn.Linear'} (input)")
            if missing:
                raise ValueError(f"layer(s) {', '.join(map(str, missing))} did not run in the model's forward pass")
            emb = store["embedding"]
            if not isinstance(emb, torch.Tensor):
                raise ValueError(f"the embedding layer gives a {type(emb).__name__}, not a tensor")
            emb = _as_vector(emb)
            feats = [_as_map(n, store["features"][n]) for n in self.feature_layers] or [emb[:, :, None, None]]
            return Outputs(logits, emb, feats)
        finally:
            store["on"] = False
            store["features"] = {}
            store.pop("embedding", None)
            for m, mode in modes:
                m.training = mode

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x).logits

    def eval(self):
        """Already frozen: every ``forward_all`` runs the model in eval mode without gradients."""
        return self

    def close(self):
        """Remove the hooks from the model (also done when the adapter is garbage collected)."""
        self._finalizer()

    def __getattr__(self, name):
        # only reached for attributes the adapter does not have (e.g. BALD's model.drops / stem_forward)
        if name.startswith("__") or name in ("_finalizer", "_store", "_fc", "_fc_problem"):
            raise AttributeError(name)
        raise AttributeError(
            f"ModelAdapter has no {name!r}: it offers forward_all, feature_dims, fc and eval (what "
            f"bench.core.pool.Pool needs) around your model; {name!r} belongs to albench's own ResNet "
            "(bench.core.models.CifarResNet), which "
            "strategies such as bald and balanced_bald (MC-Dropout through model.drops, stem_forward, head) need")


def pool_from_model(model: nn.Module, x, labelled, y, *, embedding_layer: Optional[str] = None,
                    feature_layers: Sequence[str] = (), classifier_layer: Optional[str] = None,
                    preprocess: Optional[Callable] = None, seed=0, device=None, num_classes: Optional[int] = None,
                    budget: Optional[int] = None, batch_size: int = 256, classes=()) -> Pool:
    """A ``bench.core.pool.Pool`` around your trained ``model`` (wrapped in a ``ModelAdapter``).

    x: uint8 images, N x C x H x W, a torch tensor or numpy array (normalisation goes in ``preprocess``).
    labelled: indices of the labelled images (or a boolean mask of length N).
    y: labels of the labelled images, in the order of ``labelled``, or all N labels (the pool shows only
    the labelled ones; a strategy can buy others through the oracle, ``pool.reveal``, only when ``budget``
    is set, which needs the labels of the unlabelled images: simulation, e.g. for galaxy and direct).
    seed: an int (or a numpy Generator) for the pool's Generator; device: where the model is, by default.
    """
    if not isinstance(x, torch.Tensor):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise ValueError(f"x must be uint8 images N x C x H x W, got {x.dtype} {tuple(x.shape)}; put scaling and "
                         "normalisation into preprocess (applied to the uint8 images)")
    n = len(x)
    model_device = next(iter(model.parameters()), torch.empty(0)).device
    device = torch.device(device) if device is not None else model_device
    if next(iter(model.parameters()), None) is not None and model_device != device:
        raise ValueError(f"the model is on {model_device} but device={device}; move the model (model.to(device))")
    x = x.to(device)

    labelled = np.asarray(labelled)
    lab = np.flatnonzero(labelled) if labelled.dtype == bool and len(labelled) == n else labelled.astype(np.int64)
    if lab.ndim != 1 or (lab.size and (lab.min() < 0 or lab.max() >= n)) or len(np.unique(lab)) != len(lab):
        raise ValueError(f"labelled must be distinct indices in [0, {n}) or a boolean mask of length {n}")
    y = np.asarray(y).astype(np.int64).ravel()
    if len(y) == n:
        full = y.copy()
    elif len(y) == len(lab):
        full = np.full(n, -1, np.int64)
        full[lab] = y
    else:
        raise ValueError(f"y has {len(y)} labels: give one per labelled image ({len(lab)}) or one per image ({n})")

    adapter = ModelAdapter(model, x[:2], embedding_layer=embedding_layer, feature_layers=feature_layers,
                           classifier_layer=classifier_layer, preprocess=preprocess)
    k = adapter.num_classes
    if num_classes is not None and num_classes != k:
        raise ValueError(f"num_classes={num_classes} but the model gives {k} logits")
    known = (full >= 0) & (full < k)
    if not known[lab].all():
        raise ValueError(f"labels of labelled images must be in [0, {k}); got {full[lab][~known[lab]][:5].tolist()}")
    if budget is not None and not known.all():
        raise ValueError("budget opens the pool's oracle (pool.reveal, which galaxy and direct use to buy labels), "
                         "and the oracle needs the labels of the unlabelled images too: pass y for all "
                         f"{n} images, or leave budget=None")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return Pool(x, full, lab, adapter, k, rng, device=device, batch_size=batch_size, classes=classes, budget=budget)
