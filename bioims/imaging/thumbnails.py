"""Default image artifacts: colour maximum-intensity-projection thumbnails (docs/original.md §4.3).

Per channel: log ratio to a scalar background (mean of the channel clipped at its ~20th percentile),
clamped to [0, 5], min-max. Then per pixel the channel with the largest value wins (ties: the
earlier channel; a pixel that is 0 everywhere is black) and the pixel becomes
colour[channel] * value * 255.99, truncated to uint8. Over a z-stack the maximum also runs over z.
The RGB image is resized (bicubic, PIL's default filter) so that its long side is the artifact size
and encoded in the format of the artifact name's extension (PNG by default). Downscales by 4x or
more (the 100-px thumbnail of a real-size field) first average integer boxes, as Pillow's
`Image.thumbnail` does (`REDUCING_GAP`): a documented difference from the original's direct
resize, at most a few grey levels, for 4.6x less CPU on that thumbnail.

How it is computed fast (the pixels equal the definition above exactly; tested, and equal to the
previous implementation's on real-size fields): each channel's normalisation is a table over its
grey levels (`thumbnail_table`, from per-level counts) and is non-decreasing, so the maximum over z
is taken on the raw integers; the winner and its colour are found through integer keys,
`rank(value) * C + (C - 1 - channel)`, so a running `np.maximum` over C gathered uint32 keys picks
the largest value with ties to the earlier channel, and one gather from a colour table of uint32
RGBX entries (bytes R, G, B, 0) gives the image in the layout PIL keeps RGB images in (4 bytes a
pixel). The gathers run BLOCK pixels at a time into reused buffers: whole-image gathers allocate
~60 MB of fresh temporaries per field (numpy casts every index array to 8-byte integers), which
costs page faults and cache misses on every call. PNGs are written by `bioims.imaging.png` (ISA-L
deflate) instead of PIL's encoder, rows unfiltered where the thumbnail is smaller than its source
and Sub-filtered where it is larger (`png_filter`).

Memory across calls: a worker renders field after field, and every fresh megabyte-sized array (the
5 MB RGBX image, PIL's copy of it, PIL's resize intermediates and outputs, the PNG scanlines) was
mapped and zero-filled by the kernel again: ~2600 minor page faults and ~7 ms of system time per
field in a worker-like loop. So `render_thumbnails` writes the MIP into this thread's kept RGBX
array (`Scratch`, also the scanlines and the gathers' blocks), hands that array to PIL as its RGB
image without a copy (`mapped_rgb_image`), and has PIL keep its image blocks for reuse
(`keep_pil_blocks`): ~160 faults and ~1 ms of system time a field remain (the PNG bytes objects).
None of it changes a pixel: PIL resamples the same RGB image from the same memory layout.

Not done, measured: the resizes are PIL's bicubic in C (~21 ms to 1000 px, ~8 ms to 100 px before
the reducing resize, ~2 ms with it), half of the CPU time; the 100-px resize shares no pass with the
1000-px one (other coefficients), and
an exact re-implementation through BLAS (float64 products of 8-bit pixels and 22-bit fixed-point
coefficients are exact) would cost more: the dense 100-px horizontal pass alone is ~20 ms
(3 x 1024 x 1280 by 1280 x 100), ~3 ms more to make the float planes. An RGBX-mode PIL image
(which `Image.frombuffer` can map publicly) is resized as 4 bands, ~15 % slower. Keeping PIL's
default 16 MiB blocks (reused with realloc) made the faults worse, not better.

Measured (benchmarks/thumbnails.py, one core, CPU time per 1024 x 1280 x 3 synthetic field, side by
side with the previous implementation of commit a519cbc): best of 5 on 3 fields, render_thumbnails
82-84 -> 50-52 ms (colour MIP 21-23 -> 13-14, 1000-px PNG encoding 32 -> 9, resizes unchanged); a
sequential loop over 16 fields, each path in a fresh process as an ingest worker, best of 3
rounds: user + sys 92-98 -> 51-56 ms a field and 3100-3360 -> ~155 page faults. Against this
module before the buffers and the filter choice (commit 7e9ff04), 48 fields read from TIFF and
rendered one after the other, 18 alternating runs on the shared 2-core machine: median 70.4 ->
62.5 ms a field (user 63.3 -> 61.2, sys 7.7 -> 1.1), best 67.6 -> 57.0; faults 2623 -> ~170.
PNG sizes against the previous implementation: the 1000-px one +7.3 % (1.18 -> 1.26 MB), the
100-px one -5.4 %.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Sequence

import numpy as np
from PIL import Image

from bioims.imaging.normalize import thumbnail_table
from bioims.imaging.palette import channel_colors
from bioims.imaging.params import ArtifactParameters, artifact_format
from bioims.imaging.png import NONE_FILTER, SUB_FILTER, encode_png, scanline_shape

MIP_SCALE = 255.99
# Pillow's reducing resize (what `Image.thumbnail` does by default): a downscale by at least
# 2 x REDUCING_GAP per axis first averages integer boxes (`Image.reduce`), then resamples bicubic
# by the remaining factor (2 to 4). A 1024 x 1280 field's 100-px thumbnail (a 12.8x downscale:
# 6x6 boxes, then 2.13x) costs ~2 ms instead of ~9 and differs from the direct bicubic by 0.34
# grey levels on average (at most 14, on sharp edges; 1.4 % of values by more than 2: 24 fields of
# the scale data). Smaller factors (the 1000-px medium image, 1.28x; upscales) resample directly,
# pixel for pixel as before.
REDUCING_GAP = 2.0
BLOCK = 1 << 17  # pixels per block of the colour MIP's gathers (module docstring; 2^16: ~0.25 ms a field slower)
RETAIN_BYTES = 64 << 20  # larger scratch arrays are not kept between calls


class Scratch(threading.local):
    """Arrays reused from one call to the next (one set per thread): the RGBX image, the PNG
    scanlines and the gathers' blocks. Fresh ones cost page faults on every field (module docstring)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...], dtype: type[np.generic] = np.uint8) -> np.ndarray:
        """An uninitialised array of this shape and type, the one of the last call under this name
        when it matches (arrays over RETAIN_BYTES are not kept)."""
        kept = self.arrays.get(name)
        if kept is not None and kept.shape == shape and kept.dtype == dtype:
            return kept
        array: np.ndarray = np.empty(shape, dtype=dtype)
        if array.nbytes <= RETAIN_BYTES:
            self.arrays[name] = array
        else:
            self.arrays.pop(name, None)
        return array


_SCRATCH = Scratch()

# PIL's image memory (its "arena"): PIL_BLOCK_SIZE-byte blocks, up to PIL_BLOCKS_MAX of them kept
# for reuse. PIL's defaults (16 MiB blocks, none kept) give every resize a fresh 4 MB intermediate
# and output that the allocator maps and the kernel zero-fills (~900 page faults a field); kept
# blocks of one size are reused as they are. PIL reads PILLOW_BLOCK_SIZE / PILLOW_BLOCKS_MAX from
# the environment: a process that sets either keeps its own choice.
PIL_BLOCK_SIZE = 1 << 18
PIL_BLOCKS_MAX = 64  # up to 16 MiB kept; a 1024 x 1280 field's resizes hold ~31 blocks at once
_pil_memory = threading.Lock()
_pil_memory_set = False


def keep_pil_blocks() -> None:
    """Make PIL keep and reuse its image blocks (once per process; see PIL_BLOCK_SIZE). Only memory
    management changes: every image PIL computes is the same."""
    global _pil_memory_set
    with _pil_memory:
        if _pil_memory_set:
            return
        _pil_memory_set = True
        if "PILLOW_BLOCK_SIZE" in os.environ or "PILLOW_BLOCKS_MAX" in os.environ:
            return
        Image.core.set_block_size(PIL_BLOCK_SIZE)
        Image.core.set_blocks_max(max(PIL_BLOCKS_MAX, Image.core.get_blocks_max()))


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


def colour_mip_rgbx(
    channels: Sequence[np.ndarray],
    colors: np.ndarray | None = None,
    *,
    out: np.ndarray | None = None,
    scratch: Scratch | None = None,
) -> np.ndarray:
    """(Y, X, 4) uint8 RGBX (X = 0) from C raw (Z, Y, X) integer channels: the colour MIP of the
    channels' thumbnail normalisations, computed on level tables (module docstring). out: a
    C-contiguous (Y, X, 4) uint8 array to write it into; scratch: where the gathers' blocks are kept."""
    n = len(channels)
    if n == 0:
        raise ValueError("a colour MIP needs at least one channel")
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
    # key r * n + (n - 1 - c) -> colour of channel c at value r (the original's product order),
    # as one little-endian uint32 per entry whose bytes are R, G, B, 0
    rgb = (values[:, None, None] * colors[::-1][None] * MIP_SCALE).astype(np.uint8).reshape(-1, 3)
    rgbx = np.zeros((rgb.shape[0], 4), dtype=np.uint8)
    rgbx[:, :3] = rgb
    palette = rgbx.view("<u4")[:, 0]
    height, width = channels[0].shape[-2:]
    if out is None:
        out = np.empty((height, width, 4), dtype=np.uint8)
    elif out.shape != (height, width, 4) or out.dtype != np.uint8 or not out.flags.c_contiguous:
        raise ValueError(f"out must be C-contiguous uint8 of shape {(height, width, 4)}, not {out.dtype} {out.shape}")
    _gather_max(keys, [_projected(raw) for raw in channels], palette, out.reshape(-1).view("<u4"), scratch)
    return out


def _projected(raw: np.ndarray) -> np.ndarray:
    """The maximum over z of a (Z, Y, X) or (Y, X) channel, flattened (a view where Z is 1)."""
    return (raw if raw.ndim == 2 else raw[0] if raw.shape[0] == 1 else raw.max(axis=0)).ravel()


def _gather_max(
    keys: list[np.ndarray], levels: list[np.ndarray], palette: np.ndarray, out: np.ndarray, scratch: Scratch | None
) -> np.ndarray:
    """out[i] = palette[max over c of keys[c][levels[c][i]]], BLOCK pixels at a time: the
    temporaries stay in cache and are reused, where whole-image gathers allocate fresh megabytes
    (index casts, gathered keys) on every call."""
    size = levels[0].size
    block = (min(BLOCK, size),)
    best = np.empty(block, np.uint32) if scratch is None else scratch.array("best", block, np.uint32)
    other = np.empty(block, np.uint32) if scratch is None else scratch.array("other", block, np.uint32)
    for start in range(0, size, BLOCK):
        stop = min(start + BLOCK, size)
        b, o = best[: stop - start], other[: stop - start]
        # mode="clip": every index is in range by construction, and with out= "raise" would copy
        np.take(keys[0], levels[0][start:stop], out=b, mode="clip")
        for key, level in zip(keys[1:], levels[1:], strict=True):
            np.take(key, level[start:stop], out=o, mode="clip")
            np.maximum(b, o, out=b)
        np.take(palette, b, out=out[start:stop], mode="clip")
    return out


def colour_mip_raw(channels: Sequence[np.ndarray], colors: np.ndarray | None = None) -> np.ndarray:
    """(Y, X, 3) uint8 from C raw (Z, Y, X) integer channels: equal to
    `colour_mip([normalize_for_thumbnail(raw) for raw in channels])`. A view of the RGBX image
    (`colour_mip_rgbx`); `rgb_image` maps it to PIL without repacking."""
    return colour_mip_rgbx(channels, colors)[..., :3]


def rgb_image(pixels: np.ndarray) -> Image.Image:
    """A PIL RGB image of (Y, X, 3) RGB or (Y, X, 4) RGBX uint8 pixels. PIL keeps RGB as 4 bytes a
    pixel, so RGBX pixels (or an RGB view of them, as `colour_mip_raw` returns) are copied in as
    they are rather than repacked."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise ValueError(f"an RGB image needs (Y, X, 3) or (Y, X, 4) uint8 pixels, not {pixels.shape} {pixels.dtype}")
    if pixels.shape[2] == 3:
        padded = _rgbx_under(pixels)
        if padded is None:
            return Image.fromarray(pixels)
        pixels = padded
    height, width = pixels.shape[:2]
    return Image.frombytes("RGB", (width, height), np.ascontiguousarray(pixels), "raw", "RGBX")


def _rgbx_under(rgb: np.ndarray) -> np.ndarray | None:
    """The (Y, X, 4) array an (Y, X, 3) view like `rgbx[..., :3]` was cut from, if its memory
    provably holds it (4-byte pixels, contiguous rows, inside its base's buffer), else None."""
    height, width = rgb.shape[:2]
    base = rgb.base
    if rgb.strides != (4 * width, 4, 1) or not isinstance(base, np.ndarray) or not base.flags.c_contiguous:
        return None
    offset = rgb.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    if offset < 0 or offset + 4 * height * width > base.nbytes:
        return None
    return np.lib.stride_tricks.as_strided(rgb, (height, width, 4), (4 * width, 4, 1), writeable=False)


def mapped_rgb_image(rgbx: np.ndarray) -> Image.Image:
    """A PIL RGB image over the memory of a C-contiguous (Y, X, 4) uint8 RGBX array, not a copy
    of it: PIL keeps RGB as 4 bytes a pixel, so the array already is PIL's layout. The array must
    outlive the image and not change while the image is in use. `Image.frombuffer` maps only
    "RGBX", "RGBA", ... buffers (an RGBX image would be resized as 4 bands, ~15 % more work), so
    this asks PIL's core for the mapping that frombuffer makes, with mode "RGB"; where that is
    not available it falls back to a copy (`rgb_image`)."""
    if rgbx.dtype != np.uint8 or rgbx.ndim != 3 or rgbx.shape[2] != 4 or not rgbx.flags.c_contiguous:
        raise ValueError(f"a mapped RGB image needs C-contiguous (Y, X, 4) uint8 pixels, not {rgbx.shape} {rgbx.dtype}")
    height, width = rgbx.shape[:2]
    try:
        core = Image.core.map_buffer(rgbx, (width, height), "raw", 0, ("RGB", 0, 1))
    except (AttributeError, TypeError, ValueError):  # not this Pillow's interface
        return rgb_image(rgbx)
    image = Image.new("RGB", (0, 0))._new(core)
    image.readonly = 1  # as frombuffer's images: PIL copies before any in-place change
    return image


def png_filter(source: tuple[int, int], thumbnail: tuple[int, int]) -> int:
    """The PNG filter of a thumbnail's rows: Sub where it is larger than its source (interpolated
    pixels change smoothly along a row, so differences compress better), else None (a downscaled
    field: dark background and sharp objects, where raw bytes compress better and faster). Sizes
    measured in the module docstring."""
    return SUB_FILTER if max(thumbnail) > max(source) else NONE_FILTER


def encode(rgb: np.ndarray | Image.Image, size: int, name: str, scratch: Scratch | None = None) -> bytes:
    """One artifact: the RGB image (array, or a PIL image made once for all artifacts) resized so
    that its long side is `size`, encoded in the format of the name's extension. scratch: where
    the PNG scanlines are kept between calls."""
    source = rgb if isinstance(rgb, Image.Image) else rgb_image(rgb)
    width, height = thumbnail_size(source.height, source.width, size)
    image = source.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=REDUCING_GAP)
    image_format = artifact_format(name)
    if image_format == "PNG":
        pixels = np.asarray(image)
        scanlines = None if scratch is None else scratch.array(f"scanlines-{size}", scanline_shape(pixels))
        return encode_png(pixels, scanlines=scanlines, filter_type=png_filter(source.size, image.size))
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def render_thumbnails(
    channels: Sequence[np.ndarray], parameters: ArtifactParameters = ArtifactParameters()
) -> dict[str, bytes]:
    """Encoded thumbnails of one image by artifact name. channels: raw (Z, Y, X) arrays. The RGBX
    image, the scanlines and the gathers' blocks are this thread's, reused from the last call."""
    if len(channels) == 0:
        raise ValueError("a colour MIP needs at least one channel")
    keep_pil_blocks()
    height, width = channels[0].shape[-2:]
    rgbx = colour_mip_rgbx(channels, out=_SCRATCH.array("rgbx", (height, width, 4)), scratch=_SCRATCH)
    mip = mapped_rgb_image(rgbx)
    return {name: encode(mip, size, name, _SCRATCH) for name, size in parameters.pairs()}
