"""Default image artifacts: colour maximum-intensity-projection thumbnails (ORIGINAL.md 4.3).

Per channel: log ratio to a scalar background (mean of the channel clipped at its ~20th percentile),
clamped to [0, 5], min-max. Then per pixel the channel with the largest value wins (ties: the
earlier channel; a pixel that is 0 everywhere is black) and the pixel becomes
colour[channel] * value * 255.99, truncated to uint8. Over a z-stack the maximum also runs over z.
The RGB image is resized (bicubic, PIL's default filter) so that its long side is the artifact size
and encoded in the format of the artifact name's extension (PNG by default).
"""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np
from PIL import Image

from bioims.imaging.normalize import normalize_for_thumbnail
from bioims.imaging.palette import channel_colors
from bioims.imaging.params import ArtifactParameters, artifact_format

MIP_SCALE = 255.99


def colour_mip(normalized: Sequence[np.ndarray], colors: np.ndarray | None = None) -> np.ndarray:
    """(Y, X, 3) uint8 from C normalised (Z, Y, X) channels in [0, 1]."""
    colors = channel_colors(len(normalized)) if colors is None else colors
    per_channel = np.stack([np.max(np.maximum(ch, 0.0), axis=0) for ch in normalized])  # (C, Y, X)
    winner = np.argmax(per_channel, axis=0)
    value = np.take_along_axis(per_channel, winner[np.newaxis], axis=0)[0]
    rgb = colors[winner] * value[..., np.newaxis] * MIP_SCALE
    return rgb.astype(np.uint8)


def thumbnail_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(width, height) with the long side = size (`int` truncation of the other, as the original)."""
    if height > width:
        return max(int(width / height * size), 1), size
    return size, max(int(height / width * size), 1)


def encode(rgb: np.ndarray, size: int, name: str) -> bytes:
    width, height = thumbnail_size(rgb.shape[0], rgb.shape[1], size)
    image = Image.fromarray(rgb, mode="RGB").resize((width, height), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format=artifact_format(name))
    return buffer.getvalue()


def render_thumbnails(
    channels: Sequence[np.ndarray], parameters: ArtifactParameters = ArtifactParameters()
) -> dict[str, bytes]:
    """Encoded thumbnails of one image by artifact name. channels: raw (Z, Y, X) arrays."""
    mip = colour_mip([normalize_for_thumbnail(raw) for raw in channels])
    return {name: encode(mip, size, name) for name, size in parameters.pairs()}
