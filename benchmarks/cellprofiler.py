"""Benchmark of the CellProfiler-feature embedding: feature extraction per ROI and per full field,
side by side with the imaging pipeline and with the networks' inference on the same ROIs.

Data: full-size 1024 x 1280 x 3 synthetic BBBC021 fields (bioims.bbbc021.synthetic, about 80-140
nuclei per field), flat fields from those fields, 128 x 128 ROIs cut by the real imaging pipeline
(bioims.imaging.pipeline.preprocess_image) at the BBBC021 settings.

Per field, in one process pinned to one core (BLAS/torch at one thread), each figure the best CPU
time (time.process_time) of `--repeats` runs (timeit's convention against noise from other
processes; CPU time because the machine is shared):
- imaging: preprocess_image (normalise 3 channels, nuclei, ROIs; compute only, no file I/O): the
  baseline every other row is a multiple of;
- regions: the nucleus and cell regions of every ROI (bioims.features.regions);
- each feature group alone, regions included (what a training of that one group costs), and what
  the group adds to the regions;
- the default groups together (bioims.features.cellprofiler.DEFAULT_GROUPS: what a
  CellProfiler-feature training measures unless told otherwise);
- inference: embed_rois of each network (untrained weights: the cost is the same) on the same ROIs.
Printed per field (ms), per ROI (ms) and as a multiple of the imaging pipeline's time per field;
the last line holds the headline figures as name=value pairs.

Run:  .venv/bin/python benchmarks/cellprofiler.py [--fields 2] [--repeats 3] [--seed 0]
          [--groups intensity sizeshape ...] [--skip-slow] [--networks bbbc021-1 ...]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bioims.features.cellprofiler import DEFAULT_GROUPS, GROUPS, roi_features
from bioims.features.regions import roi_regions
from bioims.imaging.flatfield import FlatField, compute_flat_field
from bioims.imaging.params import RoiParameters
from bioims.imaging.pipeline import preprocess_image

CHANNELS = ("dapi", "tubulin", "actin")
SLOW = ("granularity", "radial", "texture", "costes")  # seconds to minutes per field; on a few ROIs with --skip-slow
IMAGING, REGIONS = "imaging pipeline (per field)", "regions (nucleus + cell)"
DEFAULT_ROW = f"default groups ({'+'.join(DEFAULT_GROUPS)})"


def pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def best(function, repeats: int) -> float:
    """Best CPU time of this (single-threaded, pinned) process over `repeats` runs: on a shared
    machine CPU time is far less disturbed by other processes than wall time."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        function()
        times.append(time.process_time() - started)
    return min(times)


def make_fields(n: int, seed: int):
    from bioims.bbbc021.design import load_design
    from bioims.bbbc021.synthetic.model import SynthConfig, SyntheticBbbc021

    design = load_design()
    plate = design.plates[0]
    world = SyntheticBbbc021(SynthConfig(seed=seed), design)
    rows = design.plate_fields(plate).iloc[:n]
    fields = [world.render(plate, r.well, int(r.site)) for r in rows.itertuples()]
    flats = [
        FlatField.from_array(name, compute_flat_field([f[c][None] for f in fields])) for c, name in enumerate(CHANNELS)
    ]
    return fields, flats


def report(rows: dict[str, list[float]], rois_per_field: list[int], args) -> None:
    """The table (ms per field, ms per ROI, x imaging, and for a group what it adds to the
    regions) and the headline line."""
    from bioims.features.cellprofiler import feature_names

    per_field = {name: float(np.mean(values)) for name, values in rows.items()}
    rois_mean = float(np.mean(rois_per_field))
    imaging, regions = per_field[IMAGING], per_field[REGIONS]
    print()
    print(f"{'step':<44}{'ms/field':>10}{'ms/ROI':>9}{'x imaging':>11}{'group adds':>12}")
    for name, seconds in per_field.items():
        adds = f"{(seconds - regions) / imaging:>+11.1f}x" if name.startswith("regions + ") else ""
        print(f"{name:<44}{seconds * 1000:>10.1f}{seconds * 1000 / rois_mean:>9.2f}{seconds / imaging:>11.1f}{adds}")
    features = len(feature_names(CHANNELS))
    print(
        f"\nROIs per field: {rois_mean:.0f}; the default groups ({', '.join(DEFAULT_GROUPS)}) "
        f"give {features} features per ROI"
    )
    if args.skip_slow:
        print(f"({', '.join(SLOW)}: timed on 8 ROIs per field, once, and scaled to the field's ROI count)")
    headline = {
        "rois_per_field": f"{rois_mean:.0f}",
        "imaging_ms": f"{imaging * 1000:.1f}",
        "regions_x": f"{regions / imaging:.2f}",
        "default_groups": "+".join(DEFAULT_GROUPS),
        "default_features": str(features),
        "default_ms": f"{per_field[DEFAULT_ROW] * 1000:.1f}",
        "default_x": f"{per_field[DEFAULT_ROW] / imaging:.2f}",
    }
    for name, seconds in per_field.items():
        if name.startswith("regions + "):
            headline[f"{name.removeprefix('regions + ')}_adds_x"] = f"{(seconds - regions) / imaging:.2f}"
        elif name.startswith("inference "):
            headline[f"inference_{name.removeprefix('inference ')}_x"] = f"{seconds / imaging:.2f}"
    print(" ".join(f"{k}={v}" for k, v in headline.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fields", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--groups", nargs="*", default=list(GROUPS))
    parser.add_argument(
        "--skip-slow", action="store_true", help=f"time {', '.join(SLOW)} on 8 ROIs only and extrapolate"
    )
    parser.add_argument("--networks", nargs="*", default=None, help="networks to time (default: all)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", RuntimeWarning)
    pin_to_one_core()
    import torch

    from bioims.learning.hyperparameters import resolve_config
    from bioims.learning.inference import embed_rois
    from bioims.learning.networks import NETWORKS, create_network

    torch.set_num_threads(1)
    print(f"rendering {args.fields} synthetic 1024x1280 fields ...", flush=True)
    fields, flats = make_fields(args.fields, args.seed)
    parameters = RoiParameters(roi_size=128, min_voxels=200, segmentation_channel="dapi")
    rows: dict[str, list[float]] = {}
    rois_per_field: list[int] = []
    networks = args.networks if args.networks is not None else sorted(NETWORKS)
    nets = {}
    for name in networks:
        nets[name] = create_network(resolve_config({"network": name}), 3, 128).eval()
    roi_features(np.zeros((1, 3, 1, 32, 32), np.uint16) + 1000, CHANNELS, 0, GROUPS[:1])  # imports, warm-up
    for index, field in enumerate(fields):
        channels = [field[c][None] for c in range(3)]
        result = preprocess_image(CHANNELS, channels, flats, parameters)
        rois = result.tensor
        n = rois.shape[0]
        rois_per_field.append(n)
        print(f"field {index + 1}: {n} ROIs", flush=True)
        rows.setdefault(IMAGING, []).append(
            best(lambda: preprocess_image(CHANNELS, channels, flats, parameters), args.repeats)
        )
        stack = rois[:, :, 0].astype(np.float32) / 65535
        rows.setdefault(REGIONS, []).append(best(lambda: roi_regions(stack, 0), args.repeats))
        rows.setdefault(DEFAULT_ROW, []).append(
            best(lambda: roi_features(rois, CHANNELS, 0, DEFAULT_GROUPS), args.repeats)
        )
        for group in args.groups:
            subset = rois[:8] if (args.skip_slow and group in SLOW) else rois
            seconds = best(partial(roi_features, subset, CHANNELS, 0, (group,)), 1 if group in SLOW else args.repeats)
            rows.setdefault(f"regions + {group}", []).append(seconds * n / subset.shape[0])
        for name, net in nets.items():
            embed_rois(net, rois[:2])
            rows.setdefault(f"inference {name}", []).append(best(lambda: embed_rois(net, rois), args.repeats))
    report(rows, rois_per_field, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
