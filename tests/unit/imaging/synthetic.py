"""Small synthetic fluorescence fields for the imaging tests and benchmark: a vignetted background,
elliptical nuclei on the DNA channel and larger cell bodies on the other channels, blurred and with
noise, as uint16 (or uint8) grey levels. Deterministic for a given seed."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def _paint_ellipses(
    canvas: np.ndarray, centres: np.ndarray, radii: np.ndarray, angles: np.ndarray, values: np.ndarray
) -> None:
    """Add `value` inside each ellipse, touching only the ellipse's bounding box."""
    height, width = canvas.shape
    for (cy, cx), (ry, rx), angle, value in zip(centres, radii, angles, values, strict=True):
        reach = int(np.ceil(max(ry, rx))) + 1
        y0, y1 = max(int(cy) - reach, 0), min(int(cy) + reach + 1, height)
        x0, x1 = max(int(cx) - reach, 0), min(int(cx) + reach + 1, width)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        dy, dx = yy - cy, xx - cx
        cos, sin = np.cos(angle), np.sin(angle)
        u, v = dx * cos + dy * sin, -dx * sin + dy * cos
        inside = (u / rx) ** 2 + (v / ry) ** 2 <= 1.0
        canvas[y0:y1, x0:x1] += inside * value


def synthetic_field(
    seed: int,
    shape: tuple[int, int] = (96, 128),
    nuclei: int = 12,
    nucleus_radius: float = 5.0,
    background: float = 300.0,
    brightness: float = 2500.0,
    dtype: type = np.uint16,
) -> list[np.ndarray]:
    """Three (1, Y, X) channels: dapi, tubulin, actin."""
    rng = np.random.default_rng(seed)
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width]
    vignette = 1.0 - 0.35 * (((yy - height / 2) / height) ** 2 + ((xx - width / 2) / width) ** 2) * 4
    centres = np.column_stack([rng.uniform(0, height, nuclei), rng.uniform(0, width, nuclei)])
    radii = nucleus_radius * rng.uniform(0.7, 1.3, (nuclei, 2))
    angles = rng.uniform(0, np.pi, nuclei)
    channels = []
    for c in range(3):
        canvas = np.zeros(shape)
        if c == 0:
            _paint_ellipses(canvas, centres, radii, angles, brightness * rng.uniform(0.6, 1.4, nuclei))
            blurred = ndi.gaussian_filter(canvas, 1.0)
        else:
            _paint_ellipses(canvas, centres, radii * 2.2, angles, 0.4 * brightness * rng.uniform(0.5, 1.5, nuclei))
            blurred = ndi.gaussian_filter(canvas, 2.5)
        level = background * (1.0 + 0.3 * c) * vignette + blurred
        noisy = rng.normal(level, np.sqrt(np.maximum(level, 1.0)))
        top = np.iinfo(dtype).max
        if dtype == np.uint8:
            noisy = noisy / 16.0
        channels.append(np.clip(noisy, 0, top).astype(dtype)[np.newaxis])
    return channels


CHANNELS = ("dapi", "tubulin", "actin")


def synthetic_plate(seeds, **kwargs) -> list[list[np.ndarray]]:
    return [synthetic_field(seed, **kwargs) for seed in seeds]
