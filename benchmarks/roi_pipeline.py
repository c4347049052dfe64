"""ROI pipeline and TIFF decoding: the current code against the code it replaced, side by side in
one run, in CPU time on one core.

Baselines: tests/unit/imaging/previous_pipeline.py, a verbatim copy of the ROI pipeline
(`preprocess_image`: per-channel normalisation against the plate's flat field, nuclei, ROI crops)
and of `decode_tiff` (tifffile) as they were before their speed-ups. The current ones:
`bioims.imaging.pipeline.preprocess_image` and `bioims.imaging.io.decode_tiff` (its baseline-TIFF
fast path, bioims/imaging/tiff.py). Outputs are checked byte for byte (ROI tensor, windows,
centres, decoded pixels) and the check is printed.

Data: full-size 1024 x 1280 x 3 uint16 fields of the synthetic BBBC021 (bioims.bbbc021.synthetic),
each channel written as a TIFF by tifffile as the generator stores it; or --tiff-dir, a folder of
BBBC021-named channel TIFFs (`..._s1_w1<uuid>.tif`, the digit after `_w` is the channel), e.g. a
plate folder of `bioims bbbc021 synth`. Flat fields are computed from the same fields.

Timing: in every round each field (decoding: each file) runs through both versions, interleaved, so
the machine's load hits both alike; per field the least CPU time over the rounds (timeit's
convention against noise from other processes), then the mean over fields. Medians over all runs
are printed too. Decoding reads files from the page cache (each is read once before timing).

Run:  python benchmarks/roi_pipeline.py [--fields 8] [--rounds 7] [--seed 0] [--tiff-dir DIR]
Last line:  roi_ms_per_field=<x> roi_previous_ms_per_field=<y> roi_speedup_vs_previous=<y/x>
            tiff_decode_ms=<a> tiff_decode_previous_ms=<b> tiff_decode_speedup=<b/a>
            cpu_saved_ms_per_field=<(y - x) + 12 (b - a): ROIs once, 12 channel decodes per field
            (3 channels read by inspection, thumbnails, flat fields and ROIs)>
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import tifffile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bioims.imaging.flatfield import FlatField, FlatFieldAccumulator
from bioims.imaging.io import decode_tiff
from bioims.imaging.pipeline import preprocess_image
from tests.unit.imaging import previous_pipeline as previous

CHANNELS = ("dapi", "tubulin", "actin")
DECODES_PER_FIELD = 12  # 3 channel files, each read by inspection, thumbnails, flat fields and ROIs


def render_fields(root: Path, n_fields: int, seed: int) -> list[list[Path]]:
    """Synthetic BBBC021 fields of the first plate, written as TIFFs: [[dapi, tubulin, actin], ...]."""
    from bioims.bbbc021.design import load_design
    from bioims.bbbc021.synthetic.model import SynthConfig, SyntheticBbbc021

    design = load_design()
    plate = design.plates[0]
    world = SyntheticBbbc021(SynthConfig(seed=seed), design)
    fields = []
    for i, row in enumerate(design.plate_fields(plate).iloc[:n_fields].itertuples()):
        image, _ = world.render_with_truth(plate, row.well, int(row.site))
        paths = []
        for c, name in enumerate(CHANNELS):
            path = root / f"field{i}_{name}.tif"
            tifffile.imwrite(path, image[c], photometric="minisblack")
            paths.append(path)
        fields.append(paths)
    return fields


def fields_in(folder: Path, n_fields: int) -> list[list[Path]]:
    """BBBC021-named channel files grouped per field, channels in w1, w2, w4 order."""
    groups: dict[str, dict[str, Path]] = defaultdict(dict)
    for path in sorted(folder.glob("*.tif")):
        match = re.match(r"(.+)_w(\d)", path.name)
        if match:
            groups[match.group(1)][match.group(2)] = path
    fields = [[channels[k] for k in sorted(channels)] for channels in groups.values() if len(channels) == 3]
    if not fields:
        raise SystemExit(f"no three-channel BBBC021 fields in {folder}")
    return fields[:n_fields]


def cpu_ms(function, *args) -> tuple[float, object]:
    start = time.process_time()
    result = function(*args)
    return (time.process_time() - start) * 1000, result


def compare(rounds: int, items: list, versions: dict) -> dict[str, dict[str, list[float]]]:
    """CPU ms of every version on every item in every round, versions interleaved."""
    times: dict[str, dict[str, list[float]]] = {
        name: {"best": [float("inf")] * len(items), "all": []} for name in versions
    }
    for _ in range(rounds):
        for i, item in enumerate(items):
            for name, run in versions.items():
                ms, _ = cpu_ms(run, item)
                times[name]["best"][i] = min(times[name]["best"][i], ms)
                times[name]["all"].append(ms)
    return times


def same_roi_result(a, b) -> bool:
    return (
        a.tensor.dtype == b.tensor.dtype
        and a.tensor.shape == b.tensor.shape
        and a.tensor.tobytes() == b.tensor.tobytes()
        and a.starts.tobytes() == b.starts.tobytes()
        and a.centres.tobytes() == b.centres.tobytes()
        and a.components == b.components
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fields", type=int, default=8, help="fields (3 channel TIFFs each)")
    parser.add_argument("--rounds", type=int, default=7, help="passes over the fields per version")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiff-dir", type=Path, help="existing BBBC021-named channel TIFFs instead of rendering")
    args = parser.parse_args()
    cpu = sorted(os.sched_getaffinity(0))[0]
    os.sched_setaffinity(0, {cpu})

    with tempfile.TemporaryDirectory(prefix="bioims-bench-roi-") as tmp:
        started = time.perf_counter()
        if args.tiff_dir:
            fields = fields_in(args.tiff_dir, args.fields)
            origin = f"from {args.tiff_dir}"
        else:
            fields = render_fields(Path(tmp), args.fields, args.seed)
            origin = f"synthetic BBBC021, seed {args.seed}, rendered in {time.perf_counter() - started:.1f} s"
        files = [str(path) for field in fields for path in field]

        # --- decoding ---------------------------------------------------------------------------
        identical_pixels = True
        for path in files:  # also warms the page cache
            new, old = decode_tiff(path, path), previous.decode_tiff(path, path)
            identical_pixels &= new.dtype == old.dtype and new.shape == old.shape and new.tobytes() == old.tobytes()
        decode = compare(
            args.rounds,
            files,
            {"previous": lambda p: previous.decode_tiff(p, p), "new": lambda p: decode_tiff(p, p)},
        )

        # --- ROI pipeline -------------------------------------------------------------------------
        images = [[decode_tiff(str(path), str(path)) for path in field] for field in fields]
        shape = images[0][0].shape
        flats = []
        for c, name in enumerate(CHANNELS):
            accumulator = FlatFieldAccumulator(shape)
            for image in images:
                accumulator.add(image[c])
            flats.append(FlatField(name, accumulator.flat_field()))
            flats[-1].log  # noqa: B018 - computed once per plate channel and cached, as the ROI job does
        identical_rois, counts = True, []
        for image in images:
            new, old = preprocess_image(CHANNELS, image, flats), previous.preprocess_image(CHANNELS, image, flats)
            identical_rois &= same_roi_result(new, old)
            counts.append(new.count)
        rois = compare(
            args.rounds,
            images,
            {
                "previous": lambda image: previous.preprocess_image(CHANNELS, image, flats),
                "new": lambda image: preprocess_image(CHANNELS, image, flats),
            },
        )

    def summary(times: dict[str, list[float]]) -> tuple[float, float]:
        return statistics.mean(times["best"]), statistics.median(times["all"])

    roi_new, roi_new_median = summary(rois["new"])
    roi_old, roi_old_median = summary(rois["previous"])
    dec_new, dec_new_median = summary(decode["new"])
    dec_old, dec_old_median = summary(decode["previous"])
    saved = (roi_old - roi_new) + DECODES_PER_FIELD * (dec_old - dec_new)

    print(f"fields: {len(fields)} x {'x'.join(map(str, shape[1:]))} x 3 {images[0][0].dtype} ({origin})")
    print(f"ROIs per field: {counts}; core {cpu}, load average {os.getloadavg()[0]:.2f}, {args.rounds} rounds")
    print(
        f"ROI pipeline (preprocess_image), CPU ms per field: previous {roi_old:.1f} (median of all runs "
        f"{roi_old_median:.1f}), new {roi_new:.1f} ({roi_new_median:.1f}); {roi_old / roi_new:.2f}x"
    )
    print(
        f"TIFF decode, CPU ms per channel file: tifffile {dec_old:.3f} (median {dec_old_median:.3f}), "
        f"fast path {dec_new:.3f} ({dec_new_median:.3f}); {dec_old / dec_new:.2f}x; "
        f"x {DECODES_PER_FIELD} decodes per field: {DECODES_PER_FIELD * dec_old:.1f} -> "
        f"{DECODES_PER_FIELD * dec_new:.1f} ms"
    )
    print(f"outputs byte-identical: ROIs {identical_rois}, decoded pixels {identical_pixels}")
    print(f"CPU saved per field (ROIs once + {DECODES_PER_FIELD} decodes): {saved:.1f} ms")
    print(
        f"roi_ms_per_field={roi_new:.1f} roi_previous_ms_per_field={roi_old:.1f} "
        f"roi_speedup_vs_previous={roi_old / roi_new:.2f} tiff_decode_ms={dec_new:.3f} "
        f"tiff_decode_previous_ms={dec_old:.3f} tiff_decode_speedup={dec_old / dec_new:.2f} "
        f"cpu_saved_ms_per_field={saved:.1f}"
    )
    if not (identical_rois and identical_pixels):
        raise SystemExit("outputs differ from the previous code")


if __name__ == "__main__":
    main()
