"""Embedding networks, chosen by name: ROIs (N, C, R, R) float in [0, 1] -> unit vectors (N, D).

"bbbc021-1" is the original network (docs/original.md §4.8): six unpadded stride-2 3x3 convolutions
(32, 64, 128, 256, 512, 2048 channels, ReLU, Dropout2d 0.05/0.05/0.05/0.10 after conv 3-6),
Linear 1024 + ReLU + Dropout 0.2, Linear 256, L2 normalisation; 13,368,384 parameters for
3x128x128. Channels and ROI size come from the data instead of being fixed at 3 and 128.
Dropout rule: `dropout` (default 0.2, the original's) is the rate after the first linear layer and
scales the four Dropout2d rates in proportion (0 turns all dropout off).
Size rule: the network runs at `input_size` (default 128); ROIs of another size are resized
bilinearly to it inside the network, so the architecture stays the original's. Six unpadded
stride-2 convolutions need at least 127 pixels, so `input_size` below 127 is refused; above 128
the last map is larger than 1x1 and is flattened whole into the first linear layer.

"bioims-resnet" is the stronger option: a residual network with GroupNorm (per-sample
normalisation, so embeddings never depend on the other ROIs of a batch), a stride-2 stem and one
stride-2 stage per entry of `blocks`, global average pooling (any ROI size >= MIN_RESNET_SIZE),
an optional dropout and a linear head, then L2 normalisation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from bioims.learning.hyperparameters import TrainConfig

BBBC021_WIDTHS = (32, 64, 128, 256, 512, 2048)
BBBC021_DROPOUT2D = (0.0, 0.0, 0.05, 0.05, 0.05, 0.10)
BBBC021_FC = 1024
BBBC021_FC_DROPOUT = 0.2
BBBC021_MIN_INPUT = 127  # smallest side that survives six unpadded stride-2 3x3 convolutions
MIN_RESNET_SIZE = 16


class NetworkError(ValueError):
    """The network cannot be built for this data (ROI size, channels, options)."""


def _conv_out(size: int) -> int:
    """Output side of an unpadded 3x3 stride-2 convolution."""
    return (size - 3) // 2 + 1


class EmbeddingNetwork(nn.Module):
    """Common contract: forward(x (N, C, R, R) float) -> (N, D) rows of unit L2 norm."""

    name: str = ""
    input_mean: torch.Tensor  # buffers registered in __init__
    input_std: torch.Tensor

    def __init__(self, in_channels: int, roi_size: int, embedding_dim: int):
        super().__init__()
        self.in_channels = in_channels
        self.roi_size = roi_size
        self.embedding_dim = embedding_dim
        # Per-channel input standardisation (identity unless set from the training data); kept in
        # the state_dict, so inference standardises exactly as training did.
        self.register_buffer("input_mean", torch.zeros(in_channels))
        self.register_buffer("input_std", torch.ones(in_channels))

    def set_input_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        if mean.shape != (self.in_channels,) or std.shape != (self.in_channels,) or bool((std <= 0).any()):
            raise NetworkError(f"input normalisation needs {self.in_channels} means and positive stds")
        self.input_mean.copy_(mean)
        self.input_std.copy_(std)

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.input_mean[None, :, None, None]) / self.input_std[None, :, None, None]

    def check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] != self.roi_size or x.shape[3] != self.roi_size:
            raise NetworkError(
                f"{self.name} expects (N, {self.in_channels}, {self.roi_size}, {self.roi_size}) input, "
                f"got {tuple(x.shape)}"
            )

    def describe(self) -> dict:
        return {
            "network": self.name,
            "inChannels": self.in_channels,
            "roiSize": self.roi_size,
            "embeddingDim": self.embedding_dim,
            "parameters": sum(p.numel() for p in self.parameters()),
        }


class Bbbc021Net(EmbeddingNetwork):
    """The original bbbc021-1 network (see module docstring)."""

    name = "bbbc021-1"

    def __init__(
        self,
        in_channels: int,
        roi_size: int,
        embedding_dim: int = 256,
        input_size: int = 128,
        dropout: float = BBBC021_FC_DROPOUT,
    ):
        super().__init__(in_channels, roi_size, embedding_dim)
        if input_size < BBBC021_MIN_INPUT:
            raise NetworkError(
                f"bbbc021-1 needs input_size >= {BBBC021_MIN_INPUT} (six unpadded stride-2 3x3 "
                f"convolutions), got {input_size}; ROIs of any size are resized to input_size"
            )
        self.input_size = input_size
        self.dropout = dropout
        scale = dropout / BBBC021_FC_DROPOUT
        layers: list[nn.Module] = []
        channels, side = in_channels, input_size
        for width, drop in zip(BBBC021_WIDTHS, BBBC021_DROPOUT2D, strict=True):
            layers += [nn.Conv2d(channels, width, kernel_size=3, stride=2), nn.ReLU(inplace=True)]
            if drop * scale > 0:
                layers.append(nn.Dropout2d(drop * scale))
            channels, side = width, _conv_out(side)
        self.features = nn.Sequential(*layers)
        self.final_side = side
        self.head = nn.Sequential(
            nn.Linear(channels * side * side, BBBC021_FC),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(BBBC021_FC, embedding_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.standardise(x)
        if self.roi_size != self.input_size:
            x = F.interpolate(
                x,
                size=(self.input_size, self.input_size),
                mode="bilinear",
                align_corners=False,
                antialias=self.roi_size > self.input_size,
            )
        x = self.features(x).flatten(1)
        return F.normalize(self.head(x), dim=1)

    def describe(self) -> dict:
        return {
            **super().describe(),
            "inputSize": self.input_size,
            "finalMap": self.final_side,
            "dropout": self.dropout,
        }


def _groups(channels: int) -> int:
    for groups in (8, 4, 2):
        if channels % groups == 0:
            return groups
    return 1


class _ResidualBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.norm1 = nn.GroupNorm(_groups(out_ch), out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(_groups(out_ch), out_ch)
        nn.init.zeros_(self.norm2.weight)  # each block starts as the identity: stable early training
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.GroupNorm(_groups(out_ch), out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(x)), inplace=True)
        out = self.norm2(self.conv2(out))
        return F.relu(out + self.shortcut(x), inplace=True)


class ResNetEmbedding(EmbeddingNetwork):
    """Residual network with GroupNorm and global average pooling (see module docstring)."""

    name = "bioims-resnet"

    def __init__(
        self,
        in_channels: int,
        roi_size: int,
        embedding_dim: int = 256,
        width: int = 32,
        blocks: tuple[int, ...] = (1, 1, 1, 1),
        dropout: float = 0.0,
    ):
        super().__init__(in_channels, roi_size, embedding_dim)
        if roi_size < MIN_RESNET_SIZE:
            raise NetworkError(f"bioims-resnet needs ROIs of at least {MIN_RESNET_SIZE} px, got {roi_size}")
        self.width, self.blocks = width, tuple(blocks)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=2, padding=1, bias=False),
            nn.GroupNorm(_groups(width), width),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = []
        channels = width
        for stage, count in enumerate(self.blocks):
            out = width * 2**stage
            for index in range(count):
                stages.append(_ResidualBlock(channels, out, stride=2 if index == 0 else 1))
                channels = out
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, embedding_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.stages(self.stem(self.standardise(x)))
        x = x.mean(dim=(2, 3))
        return F.normalize(self.head(x), dim=1)

    def describe(self) -> dict:
        return {**super().describe(), "width": self.width, "blocks": list(self.blocks)}


def _build_bbbc021(config: TrainConfig, channels: int, roi_size: int) -> EmbeddingNetwork:
    if config.width is not None or config.blocks is not None:
        raise NetworkError("bbbc021-1 has a fixed architecture; width and blocks do not apply")
    return Bbbc021Net(
        channels,
        roi_size,
        embedding_dim=config.embedding_dim,
        input_size=config.input_size or 128,
        dropout=BBBC021_FC_DROPOUT if config.dropout is None else config.dropout,
    )


def _build_resnet(config: TrainConfig, channels: int, roi_size: int) -> EmbeddingNetwork:
    if config.input_size is not None and config.input_size != roi_size:
        raise NetworkError("bioims-resnet runs at the ROI size; input_size does not apply")
    return ResNetEmbedding(
        channels,
        roi_size,
        embedding_dim=config.embedding_dim,
        width=config.width or 32,
        blocks=config.blocks or (1, 1, 1, 1),
        dropout=config.dropout or 0.0,
    )


NETWORKS: dict[str, Callable[[TrainConfig, int, int], EmbeddingNetwork]] = {
    "bbbc021-1": _build_bbbc021,
    "bioims-resnet": _build_resnet,
}


def create_network(config: TrainConfig, channels: int, roi_size: int) -> EmbeddingNetwork:
    """Build the configured network for ROIs of `channels` x `roi_size` x `roi_size`."""
    if config.network not in NETWORKS:
        raise NetworkError(f"unknown network {config.network!r}; choose one of {', '.join(sorted(NETWORKS))}")
    if channels < 1 or roi_size < 1:
        raise NetworkError(f"invalid ROI geometry: {channels} channels, {roi_size} px")
    return NETWORKS[config.network](config, channels, roi_size)
