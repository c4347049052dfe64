"""Benchmark of thumbnail rendering (the default image artifacts of ingest, docs/original.md §4.3),
on one core, CPU time (time.process_time), side by side in one run:

1. today's path (bioims.imaging.thumbnails) against the previous one (commit a519cbc, kept verbatim
   in tests/unit/imaging/previous_thumbnails.py, which the tests also compare against: whole-image
   bincount and gathers, a (K, 3) colour table, PIL `fromarray`, PNG deflate with zlib level 1
   Z_RLE), per part of a field (colour MIP, the two resizes, the two PNG encodings) and in total,
   on real-size fields (1024 x 1280); with the PNG sizes. Each path's parts are timed in the
   previous path's own calls, so the parts add up to its total.
2. the 1000-px thumbnail's scanlines with PNG's Sub and None filters, each deflated with zlib
   level 1 Z_RLE and ISA-L levels 0-3 (time and size): the measurement behind bioims.imaging.png's
   choice of filter and level.
3. previous against today as an ingest worker runs them: a sequential loop over --loop-fields
   different real-size fields, each path in a fresh process (what a call costs in page faults
   depends on what the process allocated before, so one process cannot time both), user + sys CPU
   time and minor page faults per field (resource.getrusage), the paths alternating --loop-rounds
   times; best and median rounds.
4. today's path against the older one of commit e0f4132 (kept below verbatim: float64 normalised
   channels, stacked colour MIP, PNG at PIL's default zlib level 6), at 256 x 320 and 1024 x 1280.

Data: synthetic BBBC021 fields (bioims.bbbc021.synthetic), 3 uint16 channels. Per field: both
artifacts (thumbnail-2d.png at 100 px, medium-2d.png at 1000 px) from the raw channels. Every
path's decoded PNGs are compared pixel by pixel with today's: identical, except where today's
reducing resize applies (downscales of 4x and more: the 100-px thumbnail of a real-size field),
which must stay within its documented difference (`same_as_documented`).

Run:  .venv/bin/python benchmarks/thumbnails.py [--fields 3] [--repeats 5] [--seed 0]
      [--loop-fields 16] [--loop-rounds 3]
Last line:  speedup_256x320=<x> speedup_1024x1280=<y> thumbnail_ms_per_field=<ms>
thumbnail_speedup_vs_previous=<r> png_bytes_vs_previous=<b> loop_cpu_ms_previous=<ms>
loop_cpu_ms_today=<ms> loop_speedup_vs_previous=<r> loop_faults_today=<n>: speedups are the older baseline's
time per field over today's, best of repeats, median over fields (timeit's convention against noise
from other processes); thumbnail_ms_per_field is today's render_thumbnails CPU time per real-size
field, thumbnail_speedup_vs_previous the previous path's over it, png_bytes_vs_previous today's
PNG bytes over the previous path's; loop_* are part 3's best rounds (user + sys ms per field, and
today's minor page faults per field).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import functools
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
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
from bioims.imaging.png import (
    FILTER,
    FILTERS,
    ISAL_LEVEL,
    NONE_FILTER,
    SUB_FILTER,
    encode_png,
    scanline_shape,
    zlib_deflate,
)
from bioims.imaging.thumbnails import (
    REDUCING_GAP,
    Scratch,
    colour_mip_rgbx,
    keep_pil_blocks,
    mapped_rgb_image,
    png_filter,
    render_thumbnails,
    rgb_image,
    thumbnail_size,
)
from tests.unit.imaging.previous_thumbnails import (
    previous_colour_mip_raw,
    previous_encode_png,
    previous_render_thumbnails,
)

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
        start = time.process_time()
        out = render(channels)
        best = min(best, time.process_time() - start)
    return best, out


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def same_as_documented(today: dict[str, bytes], other: dict[str, bytes], source: tuple[int, int]) -> bool:
    """Today's thumbnails against an older path's: identical pixels where no reducing resize
    applies (downscales under 2 x REDUCING_GAP, e.g. the 1000-px image of a real-size field);
    within a few grey levels where it does (the 100-px one: docs/compatibility.md)."""
    for name, size in ArtifactParameters().pairs():
        now, then = decoded(today[name]).astype(int), decoded(other[name]).astype(int)
        if now.shape != then.shape:
            return False
        if max(source) < 2 * REDUCING_GAP * size:
            if not np.array_equal(now, then):
                return False
        elif np.abs(now - then).mean() >= 1.0 or np.abs(now - then).max() > 32:
            return False
    return True


PARTS = ("colour MIP", "resize 1000 px", "resize 100 px", "encode 1000 px", "encode 100 px")


def stepwise(
    mip_image: Callable[[list[np.ndarray]], Image.Image],
    png: Callable[[np.ndarray, tuple[int, int]], bytes],
    reducing_gap: float | None,
    channels: list[np.ndarray],
    times: dict[str, float],
) -> dict[str, bytes]:
    """One path's render_thumbnails, step by step (the same calls), adding each step's CPU time to
    times: mip_image makes the full-size PIL image, png encodes a resized one's pixels (given the
    full-size image's size), reducing_gap is the path's Pillow resize setting."""
    clock = time.process_time()

    def lap(part: str) -> None:
        nonlocal clock
        now = time.process_time()
        times[part] = times.get(part, 0.0) + now - clock
        clock = now

    mip = mip_image(channels)
    lap("colour MIP")
    out = {}
    for name, size in ArtifactParameters().pairs():
        width, height = thumbnail_size(mip.height, mip.width, size)
        image = mip.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=reducing_gap)
        lap(f"resize {size} px")
        out[name] = png(np.asarray(image), mip.size)
        lap(f"encode {size} px")
    return out


SCRATCH = Scratch()  # today's buffers for the step-by-step calls (render_thumbnails keeps its own)


def today_mip(channels: list[np.ndarray]) -> Image.Image:
    """Today's full-size image as render_thumbnails makes it: the colour MIP into a kept RGBX
    buffer, mapped (not copied) as PIL's RGB image, PIL's image blocks kept."""
    keep_pil_blocks()
    height, width = channels[0].shape[-2:]
    rgbx = SCRATCH.array("rgbx", (height, width, 4))
    return mapped_rgb_image(colour_mip_rgbx(channels, out=rgbx, scratch=SCRATCH))


def today_png(pixels: np.ndarray, source: tuple[int, int]) -> bytes:
    scanlines = SCRATCH.array(f"scanlines-{pixels.shape}", scanline_shape(pixels))
    return encode_png(pixels, scanlines=scanlines, filter_type=png_filter(source, pixels.shape[1::-1]))


STEPWISE: dict[str, Callable[[list[np.ndarray], dict[str, float]], dict[str, bytes]]] = {
    "previous": functools.partial(
        stepwise,
        lambda c: Image.fromarray(previous_colour_mip_raw(c)),
        lambda pixels, _: previous_encode_png(pixels),
        None,
    ),
    "today": functools.partial(stepwise, today_mip, today_png, REDUCING_GAP),
}


RENDERERS: dict[str, Callable[[list[np.ndarray]], dict[str, bytes]]] = {
    "previous": previous_render_thumbnails,
    "today": render_thumbnails,
}


def compare_previous(fields: list[list[np.ndarray]], repeats: int) -> tuple[float, float, float]:
    """Part 1: previous against today, per part and in total (ms per field), and the PNG sizes.
    Returns (today's ms per field, speedup, today's bytes / previous bytes)."""
    paths = {path: (STEPWISE[path], RENDERERS[path]) for path in ("previous", "today")}
    parts: dict[str, dict[str, list[float]]] = {path: {} for path in paths}
    totals: dict[str, list[float]] = {path: [] for path in paths}
    sizes: dict[str, dict[str, int]] = {path: {} for path in paths}
    for channels in fields:
        best: dict[str, dict[str, float]] = {path: {} for path in paths}
        rendered: dict[str, dict[str, bytes]] = {}
        for _ in range(repeats):  # interleaved, so that both paths see the same machine
            for path, (stepwise, render) in paths.items():
                times: dict[str, float] = {}
                stepped = stepwise(channels, times)
                start = time.process_time()
                rendered[path] = render(channels)
                times["total"] = time.process_time() - start
                if stepped != rendered[path]:
                    raise SystemExit(f"{path}: the step-by-step calls do not give render_thumbnails' bytes")
                for part, seconds in times.items():
                    best[path][part] = min(best[path].get(part, float("inf")), seconds)
        if not same_as_documented(rendered["today"], rendered["previous"], channels[0].shape[-2:]):
            raise SystemExit("today's decoded pixels differ from the previous path's beyond the documented resize")
        for path in paths:
            totals[path].append(best[path].pop("total"))
            for part, seconds in best[path].items():
                parts[path].setdefault(part, []).append(seconds)
            for name, data in rendered[path].items():
                sizes[path][name] = sizes[path].get(name, 0) + len(data)
    print(
        f"\n1. previous (a519cbc) vs today, {len(fields)} fields of 1024 x 1280, "
        f"CPU ms per field (best of {repeats}, median over fields):"
    )
    print(f"   {'part':<28}{'previous':>10}{'today':>10}{'ratio':>8}")
    for part in PARTS:
        p, t = statistics.median(parts["previous"][part]), statistics.median(parts["today"][part])
        print(f"   {part:<28}{1000 * p:>10.1f}{1000 * t:>10.1f}{p / t:>8.2f}")
    p, t = statistics.median(totals["previous"]), statistics.median(totals["today"])
    speedup = statistics.median(a / b for a, b in zip(totals["previous"], totals["today"], strict=True))
    print(f"   {'render_thumbnails (total)':<28}{1000 * p:>10.1f}{1000 * t:>10.1f}{speedup:>8.2f}")
    print(
        "   decoded pixels: the 1000-px images identical, the 100-px ones within the reducing resize's "
        "documented difference (docs/compatibility.md), every field"
    )
    for name in sizes["today"]:
        a, b = sizes["previous"][name] / len(fields), sizes["today"][name] / len(fields)
        print(f"   PNG {name}: {a / 1e3:.1f} kB previous, {b / 1e3:.1f} kB today ({100 * (b / a - 1):+.1f} %)")
    ratio = sum(sizes["today"].values()) / sum(sizes["previous"].values())
    return 1000 * t, speedup, ratio


LOOP_MEASURES = ("user", "sys", "faults")


def loop_worker(path: str, folder: str) -> None:
    """A fresh process that renders the fields saved in folder one after the other, as an ingest
    worker does (load the channels, render); prints the renders' CPU seconds (user, sys) and
    minor page faults per field as JSON. The first field is rendered once untimed (warm-up)."""
    render = RENDERERS[path]
    fields = sorted({file.name.split("-c")[0] for file in Path(folder).glob("field-*-c*.npy")})
    totals = dict.fromkeys(LOOP_MEASURES, 0.0)
    for i, field in enumerate([fields[0], *fields]):
        channels = [np.load(file) for file in sorted(Path(folder).glob(f"{field}-c*.npy"))]
        before = resource.getrusage(resource.RUSAGE_SELF)
        render(channels)
        after = resource.getrusage(resource.RUSAGE_SELF)
        if i:
            totals["user"] += after.ru_utime - before.ru_utime
            totals["sys"] += after.ru_stime - before.ru_stime
            totals["faults"] += after.ru_minflt - before.ru_minflt
    print(json.dumps({key: value / len(fields) for key, value in totals.items()}))


def compare_loop(fields: list[list[np.ndarray]], rounds: int) -> dict[str, dict[str, float]]:
    """Part 3: previous against today in a sequential loop over all the fields, each path in fresh
    processes (page faults depend on what the process allocated before), the paths alternating
    `rounds` times. Per field: user + sys CPU ms and minor page faults, the best round's (lowest
    CPU) and the median round's. Returns {path: {"cpu_ms", "faults"}} of the best rounds."""
    runs: dict[str, list[dict[str, float]]] = {path: [] for path in RENDERERS}
    with tempfile.TemporaryDirectory() as folder:
        for i, channels in enumerate(fields):
            for c, raw in enumerate(channels):
                np.save(Path(folder) / f"field-{i:03d}-c{c}.npy", raw)
        for _ in range(rounds):
            for path in RENDERERS:
                command = [sys.executable, __file__, "--loop-worker", path, folder]
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                runs[path].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(
        f"\n3. sequential loop over {len(fields)} fields of 1024 x 1280, each path in a fresh process "
        f"(as an ingest worker), {rounds} alternating rounds; per field:"
    )
    print(f"   {'':<22}{'user ms':>9}{'sys ms':>8}{'CPU ms':>8}{'faults':>8}")
    best: dict[str, dict[str, float]] = {}
    for path, results in runs.items():
        ordered = sorted(results, key=lambda r: r["user"] + r["sys"])
        for label, r in (("best", ordered[0]), ("median", ordered[len(ordered) // 2])):
            user, system, faults = 1000 * r["user"], 1000 * r["sys"], r["faults"]
            print(f"   {f'{path} ({label})':<22}{user:>9.1f}{system:>8.1f}{user + system:>8.1f}{faults:>8.0f}")
        best[path] = {"cpu_ms": 1000 * (ordered[0]["user"] + ordered[0]["sys"]), "faults": ordered[0]["faults"]}
    ratio = best["previous"]["cpu_ms"] / best["today"]["cpu_ms"]
    print(f"   CPU previous / today (best rounds): {ratio:.2f}")
    return best


def compare_deflate(fields: list[list[np.ndarray]], repeats: int) -> None:
    """Part 2: the 1000-px thumbnail's scanlines with the Sub and None filters, each deflated with
    zlib level 1 Z_RLE and ISA-L levels 0-3: filter and deflate CPU time and size."""
    from isal import isal_zlib

    pixels = []
    for channels in fields:
        mip = rgb_image(colour_mip_rgbx(channels))
        width, height = thumbnail_size(mip.height, mip.width, 1000)
        pixels.append(np.asarray(mip.resize((width, height), Image.Resampling.BICUBIC)))
    coders: dict[str, Callable[[bytes], bytes]] = {"zlib 1 Z_RLE": zlib_deflate}
    for level in range(4):
        coders[f"isal level {level}"] = lambda data, level=level: isal_zlib.compress(data, level)
    print(
        f"\n2. the 1000-px thumbnail's scanlines, filtered and deflated ({len(pixels)} fields; CPU ms, "
        f"best of {repeats}, cases interleaved; sizes against the previous encoder, Sub + zlib):"
    )
    filters = {SUB_FILTER: "Sub", NONE_FILTER: "None"}
    cases = [(filter_type, label) for filter_type in filters for label in coders]
    best: dict[tuple[int, str], list[float]] = {case: [float("inf")] * len(pixels) for case in cases}
    filtering: dict[int, list[float]] = {filter_type: [float("inf")] * len(pixels) for filter_type in filters}
    sizes: dict[tuple[int, str], int] = dict.fromkeys(cases, 0)
    for i, image in enumerate(pixels):
        rows: dict[int, bytes] = {}
        for repeat in range(repeats):  # interleaved, so that every case sees the same machine
            for filter_type in filters:
                start = time.process_time()
                scanlines = FILTERS[filter_type](image, None)
                filtering[filter_type][i] = min(filtering[filter_type][i], time.process_time() - start)
                rows[filter_type] = scanlines.tobytes()
            for filter_type, label in cases:
                start = time.process_time()
                compressed = coders[label](rows[filter_type])
                best[filter_type, label][i] = min(best[filter_type, label][i], time.process_time() - start)
                if repeat == 0:
                    if zlib.decompress(compressed) != rows[filter_type]:
                        raise SystemExit(f"{label}: the stream does not inflate to its input")
                    sizes[filter_type, label] += len(compressed)
    reference = sizes[SUB_FILTER, "zlib 1 Z_RLE"]
    marks = {(SUB_FILTER, "zlib 1 Z_RLE"): " (previous)", (FILTER, f"isal level {ISAL_LEVEL}"): " (today)"}
    for case in cases:
        filter_type, label = case
        ms, size = 1000 * statistics.median(best[case]), sizes[case]
        print(
            f"   {filters[filter_type]:<5} filter {1000 * statistics.median(filtering[filter_type]):4.1f} ms, "
            f"{label:<13}{ms:>6.1f} ms  {size / len(pixels) / 1e6:.3f} MB ({100 * (size / reference - 1):+.1f} %)"
            f"{marks.get(case, '')}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fields", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loop-fields", type=int, default=16, help="fields of the sequential loop (part 4)")
    parser.add_argument("--loop-rounds", type=int, default=3)
    parser.add_argument("--loop-worker", nargs=2, metavar=("PATH", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loop_worker:
        loop_worker(*args.loop_worker)
        return
    cpu = sorted(os.sched_getaffinity(0))[0]
    os.sched_setaffinity(0, {cpu})
    print(
        f"one core (cpu {cpu}); {args.fields} synthetic BBBC021 fields per size, 3 x uint16 channels; CPU time, "
        f"best of {args.repeats}"
    )
    real = make_fields(1024, 1280, args.fields, args.seed)
    today_ms, vs_previous, bytes_ratio = compare_previous(real, args.repeats)
    compare_deflate(real, args.repeats)
    extra = make_fields(1024, 1280, args.loop_fields, args.seed + 1) if args.loop_fields > len(real) else []
    loop = compare_loop((real + extra)[: args.loop_fields], args.loop_rounds)
    print("\n4. the older baseline (e0f4132) vs today:")
    ratios = {}
    for height, width in SIZES:
        fields = real if (height, width) == (1024, 1280) else make_fields(height, width, args.fields, args.seed)
        base_times, new_times, identical, base_bytes, new_bytes = [], [], True, 0, 0
        for channels in fields:
            tb, out_b = best_time(baseline_render_thumbnails, channels, args.repeats)
            tn, out_n = best_time(render_thumbnails, channels, args.repeats)
            base_times.append(tb)
            new_times.append(tn)
            identical &= same_as_documented(out_n, out_b, channels[0].shape[-2:])
            for name in out_b:
                base_bytes += len(out_b[name])
                new_bytes += len(out_n[name])
        ratio = statistics.median(b / n for b, n in zip(base_times, new_times, strict=True))
        ratios[f"{height}x{width}"] = ratio
        print(
            f"   {height}x{width}: baseline {1000 * statistics.median(base_times):.1f} ms/field, "
            f"today {1000 * statistics.median(new_times):.1f} ms/field, speedup {ratio:.2f}x; "
            f"decoded pixels as documented: {identical}; PNG bytes today/baseline {new_bytes / base_bytes:.3f}"
        )
        if not identical:
            raise SystemExit("decoded thumbnails differ from the baseline's")
    print(
        " ".join(f"speedup_{size}={ratio:.2f}" for size, ratio in ratios.items())
        + f" thumbnail_ms_per_field={today_ms:.1f} thumbnail_speedup_vs_previous={vs_previous:.2f}"
        + f" png_bytes_vs_previous={bytes_ratio:.3f}"
        + f" loop_cpu_ms_previous={loop['previous']['cpu_ms']:.1f} loop_cpu_ms_today={loop['today']['cpu_ms']:.1f}"
        + f" loop_speedup_vs_previous={loop['previous']['cpu_ms'] / loop['today']['cpu_ms']:.2f}"
        + f" loop_faults_today={loop['today']['faults']:.0f}"
    )


if __name__ == "__main__":
    main()
