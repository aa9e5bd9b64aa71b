"""The 2D U-Net: configurable depth, width, convolutions per level, norm, dropout and output head.

Tensors are (N, C, H, W) = (batch, channels, rows, columns), float32. The network returns raw
logits; :func:`probabilities` turns them into softmax (multi-class, one channel per class
including background) or sigmoid (binary, one channel) probabilities.

'Same' padding everywhere, so the output has the input's H and W; H and W must be multiples of
``2 ** (depth - 1)`` (the number of 2x poolings), which :mod:`.data` guarantees by its crop/pad.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Sequence

import torch
from torch import nn

from ..errors import ParameterError

NORMS = ("batch", "instance", "none")
HEADS = ("softmax", "sigmoid")


@dataclass
class Architecture:
    """Everything needed to rebuild a :class:`UNet2d`; stored in ``model.json`` under "architecture".

    ``depth``: resolution levels (``depth - 1`` poolings). ``base``: channels at the first level,
    doubled per level up to ``max_width``. ``convs``: 3x3 convolutions per level, one number for
    all levels or one per level (the decoder mirrors the encoder). ``head``: "softmax" with
    ``n_classes`` >= 2 outputs, or "sigmoid" with one output (binary).
    """

    in_channels: int = 1
    n_classes: int = 2
    depth: int = 5
    base: int = 8
    max_width: int = 256
    convs: Sequence[int] | int = 2
    norm: str = "batch"
    dropout: float = 0.0
    head: str = "softmax"
    name: str = "unet2d"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.convs, int):
            self.convs = [self.convs] * self.depth
        self.convs = [int(c) for c in self.convs]
        if self.depth < 1 or len(self.convs) != self.depth or min(self.convs) < 1:
            raise ParameterError(f"architecture needs depth >= 1 and one conv count >= 1 per level, "
                                 f"got depth={self.depth}, convs={self.convs}")
        if self.base < 1 or self.max_width < self.base:
            raise ParameterError(f"base width must be >= 1 and <= max_width, got {self.base}/{self.max_width}")
        if self.norm not in NORMS:
            raise ParameterError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.head not in HEADS:
            raise ParameterError(f"head must be one of {HEADS}, got {self.head!r}")
        if self.head == "sigmoid" and self.n_classes != 1:
            raise ParameterError("a sigmoid head is binary: n_classes must be 1 (the foreground channel)")
        if self.head == "softmax" and self.n_classes < 2:
            raise ParameterError("a softmax head needs n_classes >= 2 (background + classes)")
        if not 0.0 <= self.dropout < 1.0:
            raise ParameterError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def multiple(self) -> int:
        """H and W must be multiples of this (2 ** poolings)."""
        return 2 ** (self.depth - 1)

    def widths(self) -> list[int]:
        return [min(self.base * 2 ** i, self.max_width) for i in range(self.depth)]

    def parameter_count(self) -> int:
        """The number of weights :class:`UNet2d` will have (convolutions, norms, up-convolutions), without building it."""
        w, total, cin = self.widths(), 0, self.in_channels
        norm = 2 if self.norm != "none" else 0
        for level in range(self.depth):
            for i in range(self.convs[level]):  # encoder block
                total += 9 * (cin if i == 0 else w[level]) * w[level] + norm * w[level] + (self.norm == "none") * w[level]
            cin = w[level]
        for level in range(self.depth - 1):  # up-convolution, then decoder block on the concatenation
            total += 4 * w[level + 1] * w[level] + w[level]
            for i in range(self.convs[level]):
                total += 9 * (2 * w[level] if i == 0 else w[level]) * w[level] + norm * w[level] \
                    + (self.norm == "none") * w[level]
        return total + w[0] * self.n_classes + self.n_classes

    def to_dict(self) -> dict:
        d = asdict(self)
        d["convs"] = list(self.convs)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Architecture":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ParameterError(f"unknown architecture fields: {sorted(unknown)}")
        return cls(**d)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        # affine so instance norm can learn scale/shift like batch norm; no running stats, so
        # train and eval behave the same (good for batch size 1 and mixed inputs).
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


class ConvBlock(nn.Sequential):
    """``n`` x (3x3 conv, 'same' padding -> norm -> ReLU), then dropout if asked."""

    def __init__(self, cin: int, cout: int, n: int, norm: str, dropout: float) -> None:
        layers: list[nn.Module] = []
        for i in range(n):
            # No conv bias before a norm layer: the norm's shift makes it redundant.
            layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=norm == "none"),
                       _norm(norm, cout), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        super().__init__(*layers)


class UNet2d(nn.Module):
    """U-Net (Ronneberger 2015) with 'same' padding: max-pool down, transposed-conv up, skip concat."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        w = arch.widths()
        self.down = nn.ModuleList()
        cin = arch.in_channels
        for level in range(arch.depth):
            # Dropout only in the deeper half, where the seeds used it and over-fitting happens.
            drop = arch.dropout if level >= arch.depth // 2 else 0.0
            self.down.append(ConvBlock(cin, w[level], arch.convs[level], arch.norm, drop))
            cin = w[level]
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for level in range(arch.depth - 2, -1, -1):
            self.up.append(nn.ConvTranspose2d(w[level + 1], w[level], 2, stride=2))
            self.dec.append(ConvBlock(2 * w[level], w[level], arch.convs[level], arch.norm, 0.0))
        self.out = nn.Conv2d(w[0], arch.n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = self.pool(x)
        for up, dec in zip(self.up, self.dec):
            x = up(x)
            x = dec(torch.cat([skips.pop(), x], dim=1))
        return self.out(x)


class WithProbabilities(nn.Module):
    """The network followed by its head (softmax over channels, or sigmoid): the exported form."""

    def __init__(self, net: UNet2d) -> None:
        super().__init__()
        self.net = net
        self.sigmoid = net.arch.head == "sigmoid"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.net(x)
        return torch.sigmoid(logits) if self.sigmoid else torch.softmax(logits, dim=1)


def probabilities(logits: torch.Tensor, head: str) -> torch.Tensor:
    """Per-class probabilities (N, K, H, W) with K = classes incl. background.

    A sigmoid head's single channel p becomes two channels (1 - p, p), so callers always get
    background in channel 0 and can take an argmax.
    """
    if head == "sigmoid":
        p = torch.sigmoid(logits)
        return torch.cat([1.0 - p, p], dim=1)
    return torch.softmax(logits, dim=1)


def build(arch: Architecture | dict) -> UNet2d:
    """A freshly initialised :class:`UNet2d` from an :class:`Architecture` or its dict."""
    from ..limits import check_allocation

    if isinstance(arch, dict):
        arch = Architecture.from_dict(arch)
    check_allocation(f"the U-Net's weights (base width {arch.base}, depth {arch.depth})", (arch.parameter_count(),),
                     "float32")
    return UNet2d(arch)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
