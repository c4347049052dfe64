"""The thumbnails' channel colours: the 100-colour HUSL palette the original hard-coded (equal to
seaborn's `color_palette("husl", 100)`: hues 0.01 + k/100 of the circle scaled to 359 degrees,
saturation 0.9 * 99, lightness 0.65 * 99), computed here from the HUSL 2.x conversion
(HUSL -> LCh(uv) -> Luv -> XYZ (D65) -> sRGB) instead of a pasted table."""

from __future__ import annotations

import functools

import numpy as np

# HUSL 2.x constants: linear sRGB from XYZ, the D65 white point in u'v', and CIE L* parameters.
_M = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
_REF_Y = 1.0
_REF_U = 0.19784
_REF_V = 0.46834
_LAB_E = 0.008856
_LAB_K = 903.3


def _max_chroma(lightness: float, hue: np.ndarray) -> np.ndarray:
    """Largest in-gamut chroma for each hue at this lightness (the HUSL gamut bound)."""
    hrad = np.radians(hue)
    sin_h, cos_h = np.sin(hrad), np.cos(hrad)
    sub1 = (lightness + 16) ** 3 / 1560896.0
    sub2 = sub1 if sub1 > _LAB_E else lightness / _LAB_K
    best = np.full(hue.shape, np.inf)
    for m1, m2, m3 in _M:
        top = (0.99915 * m1 + 1.05122 * m2 + 1.14460 * m3) * sub2
        rbottom = 0.86330 * m3 - 0.17266 * m2
        lbottom = 0.12949 * m3 - 0.38848 * m1
        bottom = (rbottom * sin_h + lbottom * cos_h) * sub2
        for limit in (0.0, 1.0):
            chroma = lightness * (top - 1.05122 * limit) / (bottom + 0.17266 * sin_h * limit)
            best = np.where((chroma > 0) & (chroma < best), chroma, best)
    return best


def husl_to_rgb(hue: np.ndarray, saturation: float, lightness: float) -> np.ndarray:
    """HUSL (degrees, 0-100, 0-100) to sRGB in [0, 1], shape (n, 3); values clipped like seaborn."""
    hue = np.asarray(hue, dtype=np.float64)
    chroma = _max_chroma(lightness, hue) / 100.0 * saturation
    hrad = np.radians(hue)
    u, v = np.cos(hrad) * chroma, np.sin(hrad) * chroma
    t = (lightness + 16) / 116.0
    var_y = t**3 if t**3 > _LAB_E else (116 * t - 16) / _LAB_K
    var_u = u / (13.0 * lightness) + _REF_U
    var_v = v / (13.0 * lightness) + _REF_V
    y = var_y * _REF_Y
    x = -(9.0 * y * var_u) / ((var_u - 4.0) * var_v - var_u * var_v)
    z = (9.0 * y - 15.0 * var_v * y - var_v * x) / (3.0 * var_v)
    linear = np.stack([x, np.full_like(x, y), z], axis=1) @ _M.T
    rgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.abs(linear) ** (1 / 2.4) - 0.055)
    return np.clip(rgb, 0.0, 1.0)


@functools.lru_cache(maxsize=1)
def husl_palette(n_colors: int = 100, h: float = 0.01, s: float = 0.9, lightness: float = 0.65) -> np.ndarray:
    hues = (np.linspace(0, 1, n_colors + 1)[:-1] + h) % 1 * 359
    palette = husl_to_rgb(hues, s * 99, lightness * 99)
    palette.setflags(write=False)
    return palette


def channel_colors(n_channels: int) -> np.ndarray:
    """(n_channels, 3) colours: entry int(c * 100 / n) of the palette, capped at 99 (`getColors`)."""
    palette = husl_palette()
    index = np.minimum((np.arange(n_channels) * 100 / n_channels).astype(int), len(palette) - 1)
    return palette[index]
