"""The classifier: ResNet-18/34 (He et al. 2016), CIFAR variant (3x3 stem, stride 1, no max-pool).

The residual block is torchvision's ``BasicBlock`` as a module of the same layers in the same order, so its
parameters, their names, their initialisation (the same draws from torch's generator) and its arithmetic
are torchvision's (a test builds both and finds them equal bit for bit); it lives here because importing
torchvision costs every process ~1.4 s (its ops load ``torch._dynamo``). The stem and the stage widths are
the CIFAR variant the paper trains (Sec. 4.2).  Inputs are raw uint8 images; the model normalises them
itself with the training set's per-channel mean and std, so every caller (training, evaluation,
strategies) feeds the same thing and nobody can forget the normalisation.
"""
from dataclasses import dataclass
from typing import List

import torch
from torch import nn

from bench.core.errors import UnknownNameError

DEPTHS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}


@dataclass
class Outputs:
    logits: torch.Tensor
    embedding: torch.Tensor            # penultimate: globally pooled output of the last block
    features: List[torch.Tensor]       # the four residual-block (stage) feature maps, N x C_i x H_i x W_i


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, ReLU after the first and after the sum with the shortcut
    (``downsample``: a 1x1 convolution and batch norm where the stage changes stride or width)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class CifarResNet(nn.Module):
    """ResNet with a 3x3 stem; ``width`` is the first stage's channels (64 in the paper), ``dropout`` the
    rate of the dropout placed before each of the four residual stages (MC-Dropout, paper Sec. 4.2)."""

    def __init__(self, arch="resnet18", num_classes=10, in_channels=3, width=64, dropout=0.0,
                 mean=None, std=None):
        super().__init__()
        if arch not in DEPTHS:
            raise UnknownNameError(f"unknown architecture {arch!r}; available: {sorted(DEPTHS)}")
        mean = torch.as_tensor(mean if mean is not None else [0.5] * in_channels, dtype=torch.float32)
        std = torch.as_tensor(std if std is not None else [0.25] * in_channels, dtype=torch.float32)
        self.register_buffer("scale", (1.0 / (255.0 * std)).view(1, -1, 1, 1))
        self.register_buffer("shift", (-mean / std).view(1, -1, 1, 1))
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True))
        self.dropout_rate = dropout
        self.drops = nn.ModuleList(nn.Dropout(dropout) if dropout > 0 else nn.Identity() for _ in range(4))
        stages, inplanes = [], width
        for i, n in enumerate(DEPTHS[arch]):
            planes, stride = width * 2 ** i, 1 if i == 0 else 2
            down = None
            if stride != 1 or inplanes != planes:
                down = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
            blocks = [BasicBlock(inplanes, planes, stride, down)] + [BasicBlock(planes, planes) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            inplanes = planes
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(inplanes, num_classes)
        self.feature_dims = [width * 2 ** i for i in range(4)]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() * self.scale + self.shift

    def stem_forward(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images -> stem activations (shared by every MC-Dropout pass, see bald.py). The images are laid
        out as the model's weights are: channels_last where it was moved there (bf16, CUDA), else NCHW."""
        h = self.normalise(x)
        if self.stem[0].weight.is_contiguous(memory_format=torch.channels_last):
            h = h.contiguous(memory_format=torch.channels_last)
        return self.stem(h)

    def head(self, h: torch.Tensor, dropouts=None) -> Outputs:
        """Stem activations -> Outputs. ``dropouts``: one function per stage applied to the stage's input in
        place of the model's own dropout layers (bald.py: masks drawn once per chunk of MC-Dropout rows)."""
        feats = []
        for drop, stage in zip(dropouts or self.drops, self.stages):
            h = stage(drop(h))
            feats.append(h)
        emb = torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1)
        return Outputs(self.fc(emb), emb, feats)

    def forward_all(self, x: torch.Tensor) -> Outputs:
        return self.head(self.stem_forward(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x).logits


def build_classifier(arch="resnet18", num_classes=10, in_channels=3, width=64, dropout=0.0, mean=None, std=None):
    return CifarResNet(arch, num_classes, in_channels, width, dropout, mean, std)
