"""The batched forward pass, written once: the pool's ``map`` (what strategies see) and the trainer's ``predict``
(evaluation) both run a frozen model over images a batch at a time, in the trial's precision."""
from typing import Callable

import torch

from bench.core.device import autocast


@torch.no_grad()
def forward_batches(model, images: Callable, n: int, batch_size: int, fn: Callable, device,
                    precision: str = None) -> torch.Tensor:
    """Concatenated ``fn(model.forward_all(images(i, j)))`` over ``[0, n)`` in slices of ``batch_size``, under
    ``precision``'s autocast on ``device``; an empty tensor on ``device`` for ``n == 0``."""
    outs = []
    for i in range(0, n, batch_size):
        with autocast(device, precision):
            o = model.forward_all(images(i, min(i + batch_size, n)))
        outs.append(fn(o))
    return torch.cat(outs) if outs else torch.zeros(0, device=device)
