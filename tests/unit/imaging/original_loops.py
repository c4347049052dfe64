"""Test-only re-expression of the original's image math with its per-pixel Python loops
(docs/original.md §4.0-4.3), written from the formulas there. It reproduces the original's behaviour,
including its defects (normImageData's magnitude rule, /65536 for the flat field, the no-op zeroing
of a constant log image, division by a zero background, the double opening, the ROI truncation
check), so the tests can show where the vectorised code equals it and where it deliberately differs.
The library operations the original called (scikit-image histogram, Otsu, opening, Gaussian;
scipy label; PIL resize) are called here too. Slow by design: use small images (the benchmark uses
one full field)."""

from __future__ import annotations

import math
import warnings

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage import exposure, filters, morphology

from bioims.imaging.palette import channel_colors


def norm_image_data(x: np.ndarray) -> np.ndarray:
    m = x.max()
    if m > 65535:
        return x / m
    if m > 255:
        return x / 65535
    if m > 1:
        return x / 255
    return x / m


def find_hist_cutoff(hist, p: float) -> float:
    counts, centers = hist
    target = p * sum(int(c) for c in counts)
    cumulative = 0
    for i in range(len(counts)):
        if cumulative >= target:
            return float(centers[i])
        cumulative += int(counts[i])
    return float(centers[-1])


def apply_image_cutoff(x: np.ndarray, c: float) -> None:
    flat = x.reshape(-1)
    for i in range(flat.size):
        if flat[i] > c:
            flat[i] = c


def find_cutoff_avg(x: np.ndarray, c: float) -> float:
    total = 0.0
    flat = x.reshape(-1)
    for i in range(flat.size):
        v = flat[i]
        total += v if v < c else c
    return total / flat.size


def normalize_channel(b, x: np.ndarray) -> None:
    """In place: x = minmax(min(ln(max(x / b, 1)), 5)); a constant log image is left as is."""
    flat = x.reshape(-1)
    scalar = np.isscalar(b)
    bflat = None if scalar else np.broadcast_to(b, x.shape).reshape(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(flat.size):
            n = flat[i] / (b if scalar else bflat[i])
            if n < 1:
                n = 1.0
            value = math.log(n) if np.isfinite(n) else (math.inf if n > 0 else math.nan)
            if value > 5:
                value = 5.0
            flat[i] = value
    lo = math.inf
    hi = -math.inf
    for i in range(flat.size):
        v = flat[i]
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    if hi == lo:
        return  # the original's intended zeroing was a no-op
    for i in range(flat.size):
        flat[i] = (flat[i] - lo) / (hi - lo)


def calc_mip(x: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """x: (C, Z, Y, X) -> (Y, X, 3) uint8."""
    channels, depth, height, width = x.shape
    out = np.zeros((height, width, 3), dtype=np.uint8)
    for yy in range(height):
        for xx in range(width):
            best = 0.0
            best_channel = 0
            for c in range(channels):
                for z in range(depth):
                    v = x[c, z, yy, xx]
                    if v > best:
                        best = v
                        best_channel = c
            out[yy, xx] = colors[best_channel] * best * 255.99
    return out


def find_centers_from_labels(labels: np.ndarray, count: int, min_voxels: int) -> list[tuple[float, ...]]:
    depth, height, width = labels.shape
    sizes = [0] * (count + 1)
    sums = [[0, 0, 0] for _ in range(count + 1)]
    for z in range(depth):
        for yy in range(height):
            for xx in range(width):
                label = labels[z, yy, xx]
                if label > 0:
                    sizes[label] += 1
                    s = sums[label]
                    s[0] += z
                    s[1] += yy
                    s[2] += xx
    centres = []
    for label in range(1, count + 1):
        if sizes[label] >= min_voxels:
            s = sums[label]
            centres.append((s[0] / sizes[label], s[1] / sizes[label], s[2] / sizes[label]))
    return centres


def flat_field(images: list[np.ndarray]) -> np.ndarray:
    """Plate preprocessing of one channel: mean of the fields / 65536, clip, Gaussian sigma 50."""
    n = len(images)
    mean = np.zeros(np.squeeze(images[0]).shape, dtype=np.float32)
    for image in images:
        mean += (np.squeeze(image).astype(np.float32) / 65536) / n
    cut = find_hist_cutoff(exposure.histogram(mean, 100), 0.30)
    apply_image_cutoff(mean, cut)
    return filters.gaussian(mean, sigma=50)


class RoiDimensionInvalid(RuntimeError):
    pass


def _window(p: float, length: int, roi_size: int) -> tuple[int, int]:
    half = roi_size / 2
    p0 = p - half
    if p0 < 0:
        p = half
        p0 = 0.0
    p1 = p + half
    if p1 > length:
        p0 -= p1 - length
        p1 = float(length)
        if p0 < 0:
            p0 = 0.0
    start, stop = int(p0), int(p1)
    if stop - start != roi_size and stop - start != length:
        raise RoiDimensionInvalid("ROI dimension invalid")
    return start, stop


def preprocess_image(
    names: list[str],
    channels: list[np.ndarray],
    flat_fields: list[np.ndarray],
    roi_size: int = 128,
    min_voxels: int = 200,
    segmentation: str = "dapi",
):
    """Returns (tensor uint16 (n, C, Dz, Dy, Dx), starts [(z, y, x)], centres [(z, y, x)])."""
    x = np.stack([norm_image_data(np.asarray(c, dtype=np.float64).reshape((-1,) + c.shape[-2:])) for c in channels])
    seg = names.index(segmentation) if segmentation in names else 0
    for c in range(len(channels)):
        xc = x[c]
        cut = find_hist_cutoff(exposure.histogram(xc, 100), 0.99)
        apply_image_cutoff(xc, cut)
        normalize_channel(np.asarray(flat_fields[c]).reshape(xc.shape), xc)
    s = x[seg]
    shape = s.shape
    if s.min() == s.max():
        centres = []
    else:
        threshold = filters.threshold_otsu(s)
        mask = s >= threshold
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            mask = morphology.binary_opening(morphology.binary_opening(mask))
        labels, count = ndi.label(mask)
        centres = find_centers_from_labels(labels, count, min_voxels)
    half = roi_size / 2
    kept_centres, starts, crops = [], [], []
    for p in centres:
        dropped = False
        for d in range(3):
            m = max(roi_size - shape[d] / 4, 0)
            if p[d] + m < half or p[d] - m > (shape[d] - 1) - half:
                dropped = True
        if dropped:
            continue
        window = [_window(p[d], shape[d], roi_size) for d in range(3)]
        crops.append(x[:, window[0][0] : window[0][1], window[1][0] : window[1][1], window[2][0] : window[2][1]])
        starts.append(tuple(w[0] for w in window))
        kept_centres.append(p)
    extent = tuple(min(n, roi_size) for n in shape)
    rois = np.zeros((len(crops), len(channels), *extent), dtype=np.float64)
    for i, crop in enumerate(crops):
        rois[i] = crop
    return (rois * 65535).astype(np.uint16), starts, kept_centres


def default_artifact(channels: list[np.ndarray], sizes=(100, 1000)) -> tuple[np.ndarray, list[Image.Image]]:
    """Thumbnails: returns the colour MIP and the resized PIL images."""
    stack = np.stack([np.asarray(c, dtype=np.float64).reshape((-1,) + c.shape[-2:]) for c in channels])
    x = norm_image_data(stack)
    for c in range(x.shape[0]):
        xc = x[c]
        cut = find_hist_cutoff(exposure.histogram(xc, 100), 0.20)
        background = find_cutoff_avg(xc, cut)
        normalize_channel(background, xc)
    mip = calc_mip(x, channel_colors(x.shape[0]))
    height, width = mip.shape[:2]
    images = []
    for size in sizes:
        if height > width:
            target = (int(width / height * size), size)
        else:
            target = (size, int(height / width * size))
        images.append(Image.fromarray(mip).resize(target, Image.Resampling.BICUBIC))
    return mip, images
