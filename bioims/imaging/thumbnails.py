"""Default image artifacts: colour maximum-intensity-projection thumbnails (ORIGINAL.md 4.3).

Per channel: log ratio to a scalar background (mean of the channel clipped at its ~20th percentile),
clamped to [0, 5], min-max. Then per pixel the channel with the largest value wins (ties: the
earlier channel; a pixel that is 0 everywhere is black) and the pixel becomes
colour[channel] * value * 255.99, truncated to uint8. Over a z-stack the maximum also runs over z.
The RGB image is resized (bicubic, PIL's default filter) so that its long side is the artifact size
and encoded in the format of the artifact name's extension (PNG by default).

How it is computed fast (the pixels equal the definition above exactly; tested): each channel's
normalisation is a table over its grey levels and is non-decreasing, so the maximum over z is
taken on the raw integers; the winner and its colour are found through integer keys,
`rank(value) * C + (C - 1 - channel)`, so one running `np.maximum` over C gathered uint32 keys
picks the largest value with ties to the earlier channel, and one gather from a (keys, 3) uint8
colour table gives the RGB image. PNGs are written with zlib level 1 instead of PIL's default 6:
the decoded pixels are identical, the files 13-19 % larger (synthetic fields) and the encoding
3-4x faster.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from bioims.imaging.normalize import thumbnail_table
from bioims.imaging.palette import channel_colors
from bioims.imaging.params import ArtifactParameters, artifact_format

MIP_SCALE = 255.99
PNG_COMPRESS_LEVEL = 1  # pixels identical to any other level; 3-4x faster than the default 6


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


def colour_mip_raw(channels: Sequence[np.ndarray], colors: np.ndarray | None = None) -> np.ndarray:
    """(Y, X, 3) uint8 from C raw (Z, Y, X) integer channels: equal to
    `colour_mip([normalize_for_thumbnail(raw) for raw in channels])`, computed on level tables."""
    n = len(channels)
    colors = channel_colors(n) if colors is None else np.asarray(colors, dtype=np.float64)
    tables = [thumbnail_table(raw) for raw in channels]
    values, inverse = np.unique(np.concatenate([t[p] for t, p in tables]), return_inverse=True)
    keys, start = [], 0
    for c, (table, present) in enumerate(tables):
        count = int(present.sum())
        key = np.zeros(table.size, dtype=np.uint32)
        key[present] = inverse[start : start + count].astype(np.uint32) * n + (n - 1 - c)
        keys.append(key)
        start += count
    # key r * n + (n - 1 - c) -> colour of channel c at value r (the original's product order)
    palette = (values[:, None, None] * colors[::-1][None] * MIP_SCALE).astype(np.uint8).reshape(-1, 3)
    best = None
    for key, raw in zip(keys, channels, strict=True):
        projected = raw.max(axis=0) if raw.ndim == 3 else raw
        gathered = key[projected]
        best = gathered if best is None else np.maximum(best, gathered, out=best)
    return palette[best]


def encode(rgb: np.ndarray, size: int, name: str) -> bytes:
    width, height = thumbnail_size(rgb.shape[0], rgb.shape[1], size)
    image = Image.fromarray(rgb, mode="RGB").resize((width, height), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image_format = artifact_format(name)
    options = {"compress_level": PNG_COMPRESS_LEVEL} if image_format == "PNG" else {}
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def render_thumbnails(
    channels: Sequence[np.ndarray], parameters: ArtifactParameters = ArtifactParameters()
) -> dict[str, bytes]:
    """Encoded thumbnails of one image by artifact name. channels: raw (Z, Y, X) arrays."""
    mip = colour_mip_raw(channels)
    return {name: encode(mip, size, name) for name, size in parameters.pairs()}
