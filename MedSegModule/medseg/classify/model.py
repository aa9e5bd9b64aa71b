"""The volume classifier's network: the tutorial seed's 3D CNN, in torch.

Four blocks of 3x3x3 convolution (ReLU) -> 2x max-pool -> batch norm, with 64, 64, 128 and 256
filters; global average pool; dense 512 (ReLU); dropout 0.3; one output whose sigmoid is the
probability of "abnormal". Tensors are (N, 1, D, H, W) = (batch, channel, slices, rows, columns),
float32 in [0, 1]. The convolutions pad by one voxel ('same'), where the seed's Keras model used
'valid': so small demo inputs (32 x 32 x 16) fit the same four blocks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Sequence

import torch
from torch import nn

from ..errors import ParameterError


@dataclass
class Architecture:
    """What rebuilds a :class:`VolumeCNN`; stored in the card under "architecture"."""

    in_channels: int = 1
    channels: Sequence[int] = field(default_factory=lambda: [64, 64, 128, 256])
    dense: int = 512
    dropout: float = 0.3

    def __post_init__(self):
        self.channels = [int(c) for c in self.channels]
        if not self.channels or any(c < 1 for c in self.channels) or self.dense < 1 or self.in_channels < 1:
            raise ParameterError(f"bad classifier architecture: channels {self.channels}, dense {self.dense}")
        if not 0.0 <= self.dropout < 1.0:
            raise ParameterError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def multiple(self) -> int:
        """Input sizes must be multiples of this (one 2x pooling per block)."""
        return 2 ** len(self.channels)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Architecture":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ParameterError(f"unknown architecture fields: {sorted(unknown)}")
        return cls(**d)


class VolumeCNN(nn.Module):
    """The network; ``forward`` returns one logit per volume, shape (N,)."""

    def __init__(self, arch: Architecture):
        super().__init__()
        blocks, width = [], arch.in_channels
        for c in arch.channels:
            blocks += [nn.Conv3d(width, c, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool3d(2), nn.BatchNorm3d(c)]
            width = c
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(width, arch.dense),
                                  nn.ReLU(inplace=True), nn.Dropout(arch.dropout), nn.Linear(arch.dense, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)


def build(arch: Architecture | dict) -> VolumeCNN:
    """A network from an :class:`Architecture` or its dict (as the card stores it)."""
    return VolumeCNN(arch if isinstance(arch, Architecture) else Architecture.from_dict(arch))


def count_parameters(net: nn.Module) -> int:
    return int(sum(p.numel() for p in net.parameters()))
