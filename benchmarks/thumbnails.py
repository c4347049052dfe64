"""Benchmark of thumbnail rendering (the default image artifacts of ingest, docs/original.md §4.3):
today's path (bioims.imaging.thumbnails) against the previous one, kept below verbatim as the
baseline (commit e0f4132: float64 normalised channels, stacked colour MIP, PNG at PIL's default
zlib level 6), side by side in one run, on one core.

Data: synthetic BBBC021 fields (bioims.bbbc021.synthetic), 3 uint16 channels, at 256 x 320
(cells scaled by 1/4) and at the real 1024 x 1280. Per field: both artifacts (thumbnail-2d.png at
100 px, medium-2d.png at 1000 px) from the raw channels, encoded. Both paths' decoded PNGs are
compared pixel by pixel (they must be identical) and their byte sizes reported.

Run:  .venv/bin/python benchmarks/thumbnails.py [--fields 3] [--repeats 5] [--seed 0]
Last line:  speedup_256x320=<x> speedup_1024x1280=<y>: best-of-repeats time per field of the
baseline over today's, median over fields (timeit's convention against noise from other processes).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bioims.imaging.io import full_scale
from bioims.imaging.normalize import _background_from_levels, log_background, log_levels
from bioims.imaging.palette import channel_colors
from bioims.imaging.params import LOG_RATIO_MAX, THUMBNAIL_BACKGROUND_QUANTILE, ArtifactParameters, artifact_format
from bioims.imaging.thumbnails import render_thumbnails, thumbnail_size

SIZES = ((256, 320), (1024, 1280))


# --- the baseline: thumbnail rendering as it was at commit e0f4132 -------------------------------
def baseline_normalize_for_thumbnail(raw: np.ndarray, quantile: float = THUMBNAIL_BACKGROUND_QUANTILE) -> np.ndarray:
    scale = full_scale(raw.dtype)
    level_counts = np.bincount(raw.ravel())
    background = _background_from_levels(level_counts, scale, quantile)
    table = log_levels(raw.dtype)[: level_counts.size] - log_background(background)
    np.clip(table, 0.0, LOG_RATIO_MAX, out=table)
    present = table[level_counts > 0]
    lo, hi = present.min(), present.max()
    if hi == lo:
        return np.zeros(raw.shape, dtype=np.float64)
    table -= lo
    table /= hi - lo
    return table[raw]


def baseline_colour_mip(normalized: Sequence[np.ndarray], colors: np.ndarray | None = None) -> np.ndarray:
    colors = channel_colors(len(normalized)) if colors is None else colors
    per_channel = np.stack([np.max(np.maximum(ch, 0.0), axis=0) for ch in normalized])  # (C, Y, X)
    winner = np.argmax(per_channel, axis=0)
    value = np.take_along_axis(per_channel, winner[np.newaxis], axis=0)[0]
    rgb = colors[winner] * value[..., np.newaxis] * 255.99
    return rgb.astype(np.uint8)


def baseline_encode(rgb: np.ndarray, size: int, name: str) -> bytes:
    width, height = thumbnail_size(rgb.shape[0], rgb.shape[1], size)
    image = Image.fromarray(rgb, mode="RGB").resize((width, height), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format=artifact_format(name))
    return buffer.getvalue()


def baseline_render_thumbnails(
    channels: Sequence[np.ndarray], parameters: ArtifactParameters = ArtifactParameters()
) -> dict[str, bytes]:
    mip = baseline_colour_mip([baseline_normalize_for_thumbnail(raw) for raw in channels])
    return {name: baseline_encode(mip, size, name) for name, size in parameters.pairs()}


# --- the run ------------------------------------------------------------------------------------
def make_fields(height: int, width: int, n_fields: int, seed: int) -> list[list[np.ndarray]]:
    from bioims.bbbc021.design import load_design
    from bioims.bbbc021.synthetic.model import SynthConfig, SyntheticBbbc021

    design = load_design()
    plate = design.plates[0]
    world = SyntheticBbbc021(SynthConfig(seed=seed, height=height, width=width, cell_scale=height / 1024), design)
    fields = []
    for row in design.plate_fields(plate).iloc[:n_fields].itertuples():
        field, _ = world.render_with_truth(plate, row.well, int(row.site))
        fields.append([field[c][np.newaxis] for c in range(field.shape[0])])
    return fields


def best_time(render: Callable, channels: list[np.ndarray], repeats: int) -> tuple[float, dict[str, bytes]]:
    best, out = float("inf"), {}
    for _ in range(repeats):
        start = time.perf_counter()
        out = render(channels)
        best = min(best, time.perf_counter() - start)
    return best, out


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fields", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cpu = sorted(os.sched_getaffinity(0))[0]
    os.sched_setaffinity(0, {cpu})
    print(
        f"one core (cpu {cpu}); {args.fields} synthetic BBBC021 fields per size, 3 x uint16 channels; best of "
        f"{args.repeats}"
    )
    ratios = {}
    for height, width in SIZES:
        fields = make_fields(height, width, args.fields, args.seed)
        base_times, new_times, identical, base_bytes, new_bytes = [], [], True, 0, 0
        for channels in fields:
            tb, out_b = best_time(baseline_render_thumbnails, channels, args.repeats)
            tn, out_n = best_time(render_thumbnails, channels, args.repeats)
            base_times.append(tb)
            new_times.append(tn)
            for name in out_b:
                identical &= bool(np.array_equal(decoded(out_b[name]), decoded(out_n[name])))
                base_bytes += len(out_b[name])
                new_bytes += len(out_n[name])
        ratio = statistics.median(b / n for b, n in zip(base_times, new_times, strict=True))
        ratios[f"{height}x{width}"] = ratio
        print(
            f"{height}x{width}: baseline {1000 * statistics.median(base_times):.1f} ms/field, "
            f"today {1000 * statistics.median(new_times):.1f} ms/field, speedup {ratio:.2f}x; "
            f"decoded pixels identical: {identical}; PNG bytes today/baseline {new_bytes / base_bytes:.3f}"
        )
        if not identical:
            raise SystemExit("decoded thumbnails differ from the baseline's")
    print(" ".join(f"speedup_{size}={ratio:.2f}" for size, ratio in ratios.items()))


if __name__ == "__main__":
    main()
