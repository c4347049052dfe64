"""Vectorised rendering of simulated fields: cells as small patches computed all at once and
summed into the image with one `np.bincount` per channel.

Three passes over (n, P, P) arrays: cell bodies (tubulin and actin), nuclei (DAPI) and micronuclei
(DAPI). Shapes are ellipses with a smooth edge whose boundary is perturbed by low angular
harmonics; textures come from the banks in `textures`. The imaging model then applies
background, per-channel gain, uneven illumination, shot and read noise, and 16-bit quantisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bioims.bbbc021.synthetic import textures

F32 = np.float32


@dataclass
class Nuclei:
    """n nuclei: centres (px), semi-axes a >= b (px), angle (rad), boundary harmonics (n, 4) as
    fractions of the radius, peak intensity, chromatin texture contrast, ring depth (0..1:
    monopolar mitotic figures have a dark centre), texture bank index."""

    y: np.ndarray
    x: np.ndarray
    a: np.ndarray
    b: np.ndarray
    angle: np.ndarray
    harmonics: np.ndarray
    intensity: np.ndarray
    chromatin: np.ndarray
    ring: np.ndarray
    texture: np.ndarray


@dataclass
class Bodies:
    """n cell bodies: geometry as for Nuclei plus the nucleus semi-axes (for the dimmer cytoplasm
    above it), tubulin (level, fibre contrast, bundling, perinuclear enrichment) and actin (level,
    stress-fibre contrast, cortical ring, puncta) parameters and texture bank indices."""

    y: np.ndarray
    x: np.ndarray
    a: np.ndarray
    b: np.ndarray
    angle: np.ndarray
    harmonics: np.ndarray
    nuc_a: np.ndarray
    nuc_b: np.ndarray
    tub_level: np.ndarray
    tub_fibre: np.ndarray
    tub_bundle: np.ndarray
    tub_peri: np.ndarray
    act_level: np.ndarray
    act_fibre: np.ndarray
    act_cortical: np.ndarray
    act_puncta: np.ndarray
    texture: np.ndarray


@dataclass
class Spots:
    """n micronuclei: centres, radius (px), intensity."""

    y: np.ndarray
    x: np.ndarray
    r: np.ndarray
    intensity: np.ndarray


@dataclass
class Imaging:
    """Acquisition of one field. Per channel (DAPI, tubulin, actin): camera offset, background,
    gain and an illumination field (H, W) normalised to mean 1; `edge` is the width of object
    edges in px (focus), `texture` scales texture contrast, `shot` the variance per ADU, `read`
    the read-noise std (ADU)."""

    offset: np.ndarray
    background: np.ndarray
    gain: np.ndarray
    illumination: np.ndarray
    edge: float
    texture: float
    shot: float
    read: float


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0, 1, out=t)
    return t * t * (F32(3) - F32(2) * t)


def _frames(y: np.ndarray, x: np.ndarray, angle: np.ndarray, size: int):
    """Integer patch origins and rotated local coordinates (u along the long axis), each (n, P, P)."""
    iy = np.floor(y).astype(np.int64)
    ix = np.floor(x).astype(np.int64)
    grid = (np.arange(size) - size // 2).astype(F32)
    dy = grid[None, :, None] - (y - iy).astype(F32)[:, None, None]
    dx = grid[None, None, :] - (x - ix).astype(F32)[:, None, None]
    c = np.cos(angle).astype(F32)[:, None, None]
    s = np.sin(angle).astype(F32)[:, None, None]
    u = dx * c + dy * s
    v = dy * c - dx * s
    return iy, ix, u, v


def _shape(u, v, a, b, harmonics):
    """Normalised radius rho (1 at the mean boundary) and the harmonic-perturbed radius r."""
    ua = u / a.astype(F32)[:, None, None]
    vb = v / b.astype(F32)[:, None, None]
    rho2 = ua * ua + vb * vb
    rho = np.sqrt(rho2) + F32(1e-6)
    cp = ua / rho
    sp = vb / rho
    c2 = cp * cp - sp * sp
    s2 = F32(2) * cp * sp
    c3 = c2 * cp - s2 * sp
    s3 = s2 * cp + c2 * sp
    h = harmonics.astype(F32)
    bump = h[:, 0, None, None] * c2 + h[:, 1, None, None] * s2 + h[:, 2, None, None] * c3 + h[:, 3, None, None] * s3
    np.clip(bump, F32(-0.5), F32(0.8), out=bump)
    r = rho / (F32(1) + bump)
    return rho2, r


def _edge_mask(r, a, edge):
    """Smooth inside-mask of r < 1 with an edge `edge` px wide (a: the radius scale, px)."""
    scale = (a / edge).astype(F32)[:, None, None]
    return _smoothstep((F32(1) - r) * scale + F32(0.5))


class Canvas:
    """A padded accumulation image; patches are summed into it with `np.bincount`."""

    def __init__(self, height: int, width: int, pad: int):
        self.height, self.width, self.pad = height, width, pad
        self.stride = width + 2 * pad
        self.size = (height + 2 * pad) * self.stride

    def indices(self, iy: np.ndarray, ix: np.ndarray, size: int) -> np.ndarray:
        half = size // 2
        limit = self.pad - half
        iy = np.clip(iy, -limit, self.height + self.pad - size + half)
        ix = np.clip(ix, -limit, self.width + self.pad - size + half)
        grid = np.arange(size) - half
        rows = (iy + self.pad)[:, None] + grid[None, :]
        cols = (ix + self.pad)[:, None] + grid[None, :]
        return (rows[:, :, None] * self.stride + cols[:, None, :]).ravel()

    def add(self, index: np.ndarray, values: np.ndarray) -> np.ndarray:
        flat = np.bincount(index, weights=values.ravel(), minlength=self.size)
        image = flat.reshape(self.height + 2 * self.pad, self.stride)
        return image[self.pad : self.pad + self.height, self.pad : self.pad + self.width]


def _window(size: int) -> np.ndarray:
    """Radial taper to 0 at the patch border, so clipped cells never show a square edge."""
    grid = np.arange(size) - size // 2
    radius = np.hypot(grid[:, None], grid[None, :]) / (size / 2)
    return np.clip((1.0 - radius) / 0.12, 0, 1).astype(F32)


def render_bodies(canvas: Canvas, bodies: Bodies, size: int, imaging: Imaging) -> tuple[np.ndarray, np.ndarray]:
    """Tubulin and actin images (H, W) float64 of the cell bodies (before imaging)."""
    if len(bodies.y) == 0:
        empty = np.zeros((canvas.height, canvas.width))
        return empty, empty.copy()
    iy, ix, u, v = _frames(bodies.y, bodies.x, bodies.angle, size)
    rho2, r = _shape(u, v, bodies.a, bodies.b, bodies.harmonics)

    def p(values):
        return values.astype(F32)[:, None, None]

    n_bank = textures.BANK_SIZE
    contrast = F32(imaging.texture)
    radial = textures.radial_fibres(size)[bodies.texture % n_bank]
    mesh = textures.oriented_fibres(size)[bodies.texture % textures.ORIENTATIONS, (bodies.texture // 7) % n_bank]
    bundles = textures.radial_fibres(size, width=1.8, length=10.0)[(bodies.texture + 7) % n_bank]
    orientation = (
        np.round(np.mod(bodies.angle, np.pi) / np.pi * textures.ORIENTATIONS).astype(int) % textures.ORIENTATIONS
    )
    stress = textures.oriented_fibres(size)[orientation, (bodies.texture + 3) % n_bank]
    dots = textures.puncta(size)[(bodies.texture + 11) % n_bank]
    patchy = textures.granular(size, grain=4.0)[(bodies.texture + 5) % n_bank]

    # Ragged membrane: the boundary follows the fibre texture a little.
    r += F32(0.035) * mesh
    mask = _edge_mask(r.copy(), bodies.a, imaging.edge) * _window(size)
    mask *= F32(1) + F32(0.2) * patchy
    na = p(bodies.nuc_a)
    nb = p(bodies.nuc_b)
    nucleus = (u / na) ** 2 + (v / nb) ** 2
    mask *= F32(1) - F32(0.55) * np.clip(F32(1.3) - nucleus, 0, 1)

    ring = np.exp(-(((r - F32(0.8)) / F32(0.14)) ** 2))
    cortex = np.exp(-(((r - F32(0.94)) / F32(0.07)) ** 2))
    centre = np.exp(-rho2 / F32(0.12))

    fibres = F32(0.7) * radial + F32(0.7) * mesh
    tub = F32(0.5) + contrast * p(bodies.tub_fibre) * F32(0.45) * fibres
    tub += p(bodies.tub_peri) * F32(1.5) * centre
    tub += p(bodies.tub_bundle) * ring * (F32(1.4) + contrast * F32(0.9) * bundles)
    np.maximum(tub, 0, out=tub)
    tub *= mask * p(bodies.tub_level)

    act = F32(0.35) + contrast * p(bodies.act_fibre) * F32(0.55) * stress
    act += p(bodies.act_cortical) * F32(1.6) * cortex
    act += p(bodies.act_puncta) * F32(3.0) * dots
    np.maximum(act, 0, out=act)
    act *= mask * p(bodies.act_level)

    index = canvas.indices(iy, ix, size)
    return canvas.add(index, tub), canvas.add(index, act)


def render_nuclei(canvas: Canvas, nuclei: Nuclei, size: int, imaging: Imaging) -> np.ndarray:
    """DAPI image (H, W) float64 of the nuclei."""
    if len(nuclei.y) == 0:
        return np.zeros((canvas.height, canvas.width))
    iy, ix, u, v = _frames(nuclei.y, nuclei.x, nuclei.angle, size)
    rho2, r = _shape(u, v, nuclei.a, nuclei.b, nuclei.harmonics)
    mask = _edge_mask(r, nuclei.a, imaging.edge * 0.8) * _window(size)
    grain = textures.granular(size)[nuclei.texture % textures.BANK_SIZE]
    chromatin = nuclei.chromatin.astype(F32)[:, None, None] * F32(0.45 * imaging.texture)
    dna = F32(1) + chromatin * grain
    ring = nuclei.ring.astype(F32)[:, None, None]
    dna *= F32(1) - ring * F32(0.85) * np.exp(-rho2 / F32(0.22))
    dna *= F32(1.1) - F32(0.2) * np.minimum(rho2, F32(1))
    np.maximum(dna, 0, out=dna)
    dna *= mask * nuclei.intensity.astype(F32)[:, None, None]
    return canvas.add(canvas.indices(iy, ix, size), dna)


def render_spots(canvas: Canvas, spots: Spots, size: int, imaging: Imaging) -> np.ndarray:
    """DAPI image (H, W) float64 of the micronuclei."""
    if len(spots.y) == 0:
        return np.zeros((canvas.height, canvas.width))
    iy, ix, u, v = _frames(spots.y, spots.x, np.zeros(len(spots.y)), size)
    r = np.sqrt(u * u + v * v) / spots.r.astype(F32)[:, None, None]
    mask = _edge_mask(r, spots.r, imaging.edge * 0.7)
    mask *= spots.intensity.astype(F32)[:, None, None]
    return canvas.add(canvas.indices(iy, ix, size), mask)


def acquire(signals: list[np.ndarray], imaging: Imaging, rng: np.random.Generator) -> np.ndarray:
    """Camera model: (C, H, W) uint16 from per-channel signal images (ADU at unit gain)."""
    height, width = signals[0].shape
    out = np.empty((len(signals), height, width), dtype=np.uint16)
    for c, signal in enumerate(signals):
        expected = (signal.astype(F32) + F32(imaging.background[c])) * F32(imaging.gain[c])
        expected *= imaging.illumination[c]
        noise = rng.standard_normal((height, width), dtype=F32)
        noise *= np.sqrt(expected * F32(imaging.shot) + F32(imaging.read**2))
        expected += noise
        expected += F32(imaging.offset[c] + 0.5)
        np.clip(expected, 0, 65535, out=expected)
        out[c] = expected.astype(np.uint16)
    return out
