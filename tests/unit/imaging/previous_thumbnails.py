"""The thumbnail renderer as it was before the ISA-L / RGBX / block-gather change (commit a519cbc),
kept verbatim (only renamed with a `previous_` prefix) as the reference: the tests check that
today's `render_thumbnails` decodes to exactly these pixels, and benchmarks/thumbnails.py times
today's against it. Level tables with whole-image `np.bincount`, a (K, 3) uint8 colour table
gathered with `np.take`, PIL `Image.fromarray`, and PNGs with the Sub filter and zlib level 1 Z_RLE."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence

import numpy as np
from PIL import Image

from bioims.imaging.io import full_scale
from bioims.imaging.normalize import _background_from_levels, log_background, log_levels
from bioims.imaging.palette import channel_colors
from bioims.imaging.params import LOG_RATIO_MAX, THUMBNAIL_BACKGROUND_QUANTILE, ArtifactParameters, artifact_format
from bioims.imaging.thumbnails import thumbnail_size

MIP_SCALE = 255.99

# --- bioims/imaging/png.py at a519cbc ------------------------------------------------------------
SIGNATURE = b"\x89PNG\r\n\x1a\n"
SUB_FILTER = 1
COLOUR_TYPES = {1: 0, 3: 2}  # samples per pixel -> PNG colour type (grey, RGB)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def previous_sub_filtered(pixels: np.ndarray) -> np.ndarray:
    height = pixels.shape[0]
    samples = 1 if pixels.ndim == 2 else pixels.shape[2]
    rows = pixels.reshape(height, -1)
    out = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = SUB_FILTER
    out[:, 1 : 1 + samples] = rows[:, :samples]
    np.subtract(rows[:, samples:], rows[:, :-samples], out=out[:, 1 + samples :])
    return out


def previous_encode_png(pixels: np.ndarray, level: int = 1) -> bytes:
    pixels = np.ascontiguousarray(pixels)
    if (
        pixels.dtype != np.uint8
        or pixels.ndim not in (2, 3)
        or (pixels.ndim == 3 and pixels.shape[2] not in COLOUR_TYPES)
    ):
        raise ValueError(f"PNG encoding needs (H, W) or (H, W, 3) uint8 pixels, not {pixels.shape} {pixels.dtype}")
    height, width = pixels.shape[:2]
    if height == 0 or width == 0:
        raise ValueError(f"cannot encode an empty image of shape {pixels.shape}")
    colour_type = COLOUR_TYPES[1 if pixels.ndim == 2 else pixels.shape[2]]
    compressor = zlib.compressobj(level, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    data = compressor.compress(previous_sub_filtered(pixels)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


# --- bioims/imaging/normalize.py thumbnail_table at a519cbc --------------------------------------
def previous_thumbnail_table(
    raw: np.ndarray, quantile: float = THUMBNAIL_BACKGROUND_QUANTILE
) -> tuple[np.ndarray, np.ndarray]:
    scale = full_scale(raw.dtype)
    level_counts = np.bincount(raw.ravel())
    present = level_counts > 0
    background = _background_from_levels(level_counts, scale, quantile)
    table = log_levels(raw.dtype)[: level_counts.size] - log_background(background)
    np.clip(table, 0.0, LOG_RATIO_MAX, out=table)
    lo, hi = table[present].min(), table[present].max()
    if hi == lo:
        table.fill(0.0)
        return table, present
    table -= lo
    table /= hi - lo
    return table, present


# --- bioims/imaging/thumbnails.py at a519cbc -----------------------------------------------------
def previous_colour_mip_raw(channels: Sequence[np.ndarray], colors: np.ndarray | None = None) -> np.ndarray:
    n = len(channels)
    colors = channel_colors(n) if colors is None else np.asarray(colors, dtype=np.float64)
    tables = [previous_thumbnail_table(raw) for raw in channels]
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
        projected = raw if raw.ndim == 2 else raw[0] if raw.shape[0] == 1 else raw.max(axis=0)
        gathered = key[projected]
        best = gathered if best is None else np.maximum(best, gathered, out=best)
    assert best is not None, "a colour MIP needs at least one channel"
    return np.take(palette, best, axis=0)


def previous_encode(rgb: np.ndarray | Image.Image, size: int, name: str) -> bytes:
    source = rgb if isinstance(rgb, Image.Image) else Image.fromarray(rgb)
    width, height = thumbnail_size(source.height, source.width, size)
    image = source.resize((width, height), Image.Resampling.BICUBIC)
    image_format = artifact_format(name)
    if image_format == "PNG":
        return previous_encode_png(np.asarray(image))
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def previous_render_thumbnails(
    channels: Sequence[np.ndarray], parameters: ArtifactParameters = ArtifactParameters()
) -> dict[str, bytes]:
    mip = Image.fromarray(previous_colour_mip_raw(channels))
    return {name: previous_encode(mip, size, name) for name, size in parameters.pairs()}
