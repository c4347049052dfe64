"""Banks of texture patches (chromatin grain, microtubule and stress fibres, actin puncta).

Each bank is a float32 array (n, P, P), built once per patch size from a fixed seed and cached;
a cell picks entries by index, so every cell gets its own texture with one gather instead of
filtering noise per cell. Fibre banks are zero-mean, unit-variance; puncta are in [0, 1].
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

_BANK_SEED = 20100604  # fixed: textures are part of the simulator, not of a synthetic world
BANK_SIZE = 32
ORIENTATIONS = 8


def _standardise(bank: np.ndarray) -> np.ndarray:
    bank = bank - bank.mean(axis=(1, 2), keepdims=True)
    bank /= bank.std(axis=(1, 2), keepdims=True) + 1e-8
    return bank.astype(np.float32)


def _fourier_filter(noise: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return np.fft.irfft2(np.fft.rfft2(noise) * kernel, s=noise.shape[-2:])


def _frequencies(size: int) -> tuple[np.ndarray, np.ndarray]:
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    return fy, fx


@lru_cache(maxsize=16)
def granular(size: int, grain: float = 1.2) -> np.ndarray:
    """Band-pass noise (grain ~`grain` px): chromatin texture. (BANK_SIZE, size, size)."""
    rng = np.random.default_rng([_BANK_SEED, 1, size])
    noise = rng.standard_normal((BANK_SIZE, size, size))
    fy, fx = _frequencies(size)
    f2 = (fy**2 + fx**2) * (2 * np.pi) ** 2
    kernel = np.exp(-0.5 * f2 * grain**2) - np.exp(-0.5 * f2 * (3 * grain) ** 2)
    return _standardise(_fourier_filter(noise, kernel))


@lru_cache(maxsize=16)
def oriented_fibres(size: int, length: float = 7.0, width: float = 0.8) -> np.ndarray:
    """Line-like noise along ORIENTATIONS directions: stress fibres aligned with a cell's axis.
    (ORIENTATIONS, BANK_SIZE, size, size); entry [k] runs at angle k*pi/ORIENTATIONS from the x axis."""
    rng = np.random.default_rng([_BANK_SEED, 2, size])
    noise = rng.standard_normal((BANK_SIZE, size, size))
    fy, fx = _frequencies(size)
    out = np.empty((ORIENTATIONS, BANK_SIZE, size, size), dtype=np.float32)
    for k in range(ORIENTATIONS):
        angle = k * np.pi / ORIENTATIONS
        along = (fx * np.cos(angle) + fy * np.sin(angle)) * 2 * np.pi
        across = (-fx * np.sin(angle) + fy * np.cos(angle)) * 2 * np.pi
        kernel = np.exp(-0.5 * (along**2 * length**2 + across**2 * width**2))
        out[k] = _standardise(_fourier_filter(noise, kernel))
    return out


@lru_cache(maxsize=16)
def radial_fibres(size: int, width: float = 0.9, length: float = 6.0) -> np.ndarray:
    """Fibres radiating from the patch centre (microtubules from the centrosome): noise smooth
    along the radius and sharp across it, built in polar coordinates. (BANK_SIZE, size, size)."""
    rng = np.random.default_rng([_BANK_SEED, 3, size, int(width * 100)])
    n_angles = 4 * size
    n_radii = size
    noise = rng.standard_normal((BANK_SIZE, n_angles, n_radii))
    # Sharp across fibres (angle axis, wrapping), smooth along them (radius axis).
    polar = ndimage.gaussian_filter(
        noise, sigma=(0, width * n_angles / (2 * np.pi * size / 4), length), mode=("wrap", "wrap", "nearest")
    )
    grid = np.arange(size) - size // 2
    y, x = np.meshgrid(grid, grid, indexing="ij")
    angle_index = ((np.arctan2(y, x) + np.pi) / (2 * np.pi) * n_angles).astype(int) % n_angles
    radius_index = np.minimum(np.hypot(y, x).astype(int), n_radii - 1)
    return _standardise(polar[:, angle_index, radius_index])


@lru_cache(maxsize=16)
def puncta(size: int, spot: float = 1.3, density: float = 0.035) -> np.ndarray:
    """Sparse bright spots (actin aggregates), values in [0, 1]. (BANK_SIZE, size, size)."""
    rng = np.random.default_rng([_BANK_SEED, 4, size])
    seeds = (rng.uniform(size=(BANK_SIZE, size, size)) < density / (2 * np.pi * spot**2)).astype(float)
    seeds *= rng.uniform(0.4, 1.0, size=seeds.shape)
    spots = ndimage.gaussian_filter(seeds, sigma=(0, spot, spot), mode="wrap")
    spots /= spots.max(axis=(1, 2), keepdims=True) + 1e-12
    return np.clip(spots * 1.6, 0, 1).astype(np.float32)
