"""Benchmark of image preprocessing: the vectorised path against a loop re-expression of the
original's per-pixel math (tests/unit/imaging/original_loops.py), side by side in one run, on one
core.

Data: full-size 1024 x 1280 x 3 uint16 fields of the synthetic BBBC021 (bioims.bbbc021.synthetic,
about 80-140 nuclei per field), written as TIFFs; flat fields from those fields.

Per field, end to end: read the three TIFFs through the ObjectStore, normalise, detect nuclei, crop
128 x 128 ROIs, write the ROI tensor, labels and ROI JSON (atomic writes). The vectorised path runs
in a fresh worker process pinned to one core (its peak RSS is the per-worker memory); the loop path
runs the same read and write around the original's per-pixel loops, pinned to the same core. Both
use the same flat fields, so their outputs must agree; the script checks and prints that.

Run:  .venv/bin/python benchmarks/imaging.py [--fields 4] [--loop-fields 2] [--repeats 5] [--seed 0]
Last line:  speedup_vs_original=<x> ms_per_field=<y>: y is the median over fields of each field's
best-of-repeats wall time (read + compute + write, fsync included; timeit's convention against noise
from other processes); x is the loop path's wall time per field over the median wall time of the
vectorised runs of the same fields (same measure, same load). CPU-time ratios are printed too.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bioims.config import Settings
from bioims.imaging.flatfield import FlatField, FlatFieldAccumulator
from bioims.imaging.io import ChannelSource, read_image
from bioims.imaging.outputs import ImageOutputKeys, read_flat_field, write_flat_field, write_image_outputs
from bioims.imaging.params import RoiParameters
from bioims.imaging.pipeline import RoiResult, preprocess_image
from bioims.store import Stores
from bioims.store.localfs import LocalObjectStore

CHANNELS = ("dapi", "tubulin", "actin")
PLATE_ID = "benchplate"
EMBEDDING = "bench"


def pin_to_one_core() -> int:
    cpu = sorted(os.sched_getaffinity(0))[0]
    os.sched_setaffinity(0, {cpu})
    return cpu


def memory_mib(field: str) -> float:
    """VmRSS (current) or VmHWM (peak since start or the last reset) of this process, in MiB.
    (getrusage's maxrss would include the parent's peak: Linux keeps it across exec.)"""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def make_fields(source_root: Path, n_fields: int, seed: int) -> tuple[list[list[ChannelSource]], list[int]]:
    """Render synthetic BBBC021 fields of the first plate and write their TIFFs."""
    from bioims.bbbc021.design import load_design
    from bioims.bbbc021.synthetic.model import SynthConfig, SyntheticBbbc021

    design = load_design()
    plate = design.plates[0]
    world = SyntheticBbbc021(SynthConfig(seed=seed), design)
    images, nuclei = [], []
    for row in design.plate_fields(plate).iloc[:n_fields].itertuples():
        field, truth = world.render_with_truth(plate, row.well, int(row.site))
        sources = []
        for c, name in enumerate(CHANNELS):
            key = f"{plate}/{getattr(row, 'file_' + name)}"
            path = source_root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(path, field[c], photometric="minisblack")
            sources.append(ChannelSource(name, str(source_root), key))
        images.append(sources)
        nuclei.append(truth.n_cells)
    return images, nuclei


def vectorised_worker(home: str, images: list[list[ChannelSource]], parameters: RoiParameters, repeats: int) -> dict:
    """One worker: load the plate's flat fields (cold start), then process every field end to end."""
    cpu = pin_to_one_core()
    stores = Stores(Settings(home=Path(home)))
    data = stores.bucket("bench-data")
    shape = None
    start = time.perf_counter()
    first = read_image(stores, images[0], "warm")
    shape = first[0].shape
    flats = [read_flat_field(data, PLATE_ID, name, shape) for name in CHANNELS]
    for flat in flats:
        flat.log  # noqa: B018 - computed once per plate channel, cached
    cold_setup = time.perf_counter() - start
    at_rest = memory_mib("VmRSS")
    reset = reset_peak_rss()
    totals, cpu_times, stages, results = [], [], {"read": [], "compute": [], "write": []}, []
    for _ in range(repeats):
        for i, sources in enumerate(images):
            c0 = time.process_time()
            t0 = time.perf_counter()
            channels = read_image(stores, sources, f"img{i}")
            t1 = time.perf_counter()
            result = preprocess_image(CHANNELS, channels, flats, parameters, f"img{i}")
            t2 = time.perf_counter()
            write_image_outputs(
                data,
                ImageOutputKeys.for_image(EMBEDDING, PLATE_ID, f"img{i}"),
                result,
                parameters,
                label_index=3,
                subclass_index=5,
            )
            t3 = time.perf_counter()
            cpu_times.append(time.process_time() - c0)
            totals.append(t3 - t0)
            stages["read"].append(t1 - t0)
            stages["compute"].append(t2 - t1)
            stages["write"].append(t3 - t2)
            if len(results) < len(images):
                results.append((result.count, result.centres, result.starts, result.tensor))
    return {
        "cpu": cpu,
        "cold_setup_s": cold_setup,
        "totals": totals,
        "cpu_times": cpu_times,
        "stages": stages,
        "results": results,
        "rss_at_rest_mib": at_rest,
        "rss_peak_mib": memory_mib("VmHWM"),
        "peak_was_reset": reset,
    }


def loop_field(
    stores: Stores, data: LocalObjectStore, sources, flats: list[np.ndarray], parameters: RoiParameters, index: int
) -> tuple[float, dict, tuple]:
    from tests.unit.imaging import original_loops as original

    c0 = time.process_time()
    t0 = time.perf_counter()
    channels = read_image(stores, sources, f"loop{index}")
    t1 = time.perf_counter()
    tensor, starts, centres = original.preprocess_image(
        list(CHANNELS), channels, flats, parameters.roi_size, parameters.min_voxels
    )
    t2 = time.perf_counter()
    result = RoiResult(
        tensor=tensor,
        starts=np.array(starts, dtype=np.int64).reshape(-1, 3),
        centres=np.array(centres, dtype=np.float64).reshape(-1, 3),
        extent=tuple(tensor.shape[2:]),
        channels=CHANNELS,
        components=len(centres),
    )
    write_image_outputs(
        data,
        ImageOutputKeys.for_image("loop", PLATE_ID, f"img{index}"),
        result,
        parameters,
        label_index=3,
        subclass_index=5,
    )
    t3 = time.perf_counter()
    stages = {"read": t1 - t0, "compute": t2 - t1, "write": t3 - t2, "cpu": time.process_time() - c0}
    return t3 - t0, stages, (len(starts), result.centres, result.starts, tensor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fields", type=int, default=4, help="fields processed by the vectorised path")
    parser.add_argument("--loop-fields", type=int, default=2, help="fields processed by the loop path (slow)")
    parser.add_argument("--repeats", type=int, default=5, help="passes of the vectorised path over the fields")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not 1 <= args.loop_fields <= args.fields:
        parser.error("--loop-fields must be between 1 and --fields")
    cpu = pin_to_one_core()
    parameters = RoiParameters()

    with tempfile.TemporaryDirectory(prefix="bioims-bench-imaging-") as tmp:
        tmp_path = Path(tmp)
        t = time.perf_counter()
        images, nuclei = make_fields(tmp_path / "source", args.fields, args.seed)
        print(
            f"synthetic BBBC021 fields: {args.fields} x 1024x1280x3 uint16, nuclei per field {nuclei} "
            f"(rendered in {time.perf_counter() - t:.1f} s)"
        )
        stores = Stores(Settings(home=tmp_path / "home"))
        data = stores.bucket("bench-data")

        # --- flat fields: vectorised (streaming) vs the original's loop, same fields ----------------
        from tests.unit.imaging import original_loops as original

        flat_vec_s, flat_loop_s, flats = [], [], []
        for c, name in enumerate(CHANNELS):
            t0 = time.perf_counter()
            acc = None
            for sources in images:
                channels = read_image(stores, [sources[c]], "flat")
                acc = acc or FlatFieldAccumulator(channels[0].shape)
                acc.add(channels[0])
            flat = FlatField(name, acc.flat_field())
            write_flat_field(data, PLATE_ID, flat)
            flat_vec_s.append(time.perf_counter() - t0)
            flats.append(flat.array)
            if c == 0:
                t0 = time.perf_counter()
                original.flat_field([read_image(stores, [s[c]], "flat")[0] for s in images])
                flat_loop_s.append(time.perf_counter() - t0)

        # --- vectorised path in a fresh single-core worker ---------------------------------------
        context = multiprocessing.get_context("spawn")
        with context.Pool(1) as pool:
            worker = pool.apply(vectorised_worker, (str(tmp_path / "home"), images, parameters, args.repeats))

        # --- loop path on the same core ----------------------------------------------------------
        loop_totals, loop_stages, loop_results = [], [], []
        for i in range(args.loop_fields):
            total, stages, result = loop_field(stores, data, images[i], flats, parameters, i)
            loop_totals.append(total)
            loop_stages.append(stages)
            loop_results.append(result)

    # --- agreement -------------------------------------------------------------------------------
    agree = True
    max_diff = 0
    for (n_l, centres_l, starts_l, tensor_l), (n_v, centres_v, starts_v, tensor_v) in zip(
        loop_results, worker["results"], strict=True
    ):
        same = (
            n_l == n_v and np.allclose(centres_l, centres_v, rtol=0, atol=1e-9) and np.array_equal(starts_l, starts_v)
        )
        agree &= bool(same)
        if same and n_l:
            max_diff = max(max_diff, int(np.abs(tensor_l.astype(np.int64) - tensor_v).max()))

    totals = worker["totals"]
    per_field = [totals[i :: args.fields] for i in range(args.fields)]  # repeats of each field
    best = [min(runs) for runs in per_field]  # timeit convention: the least disturbed run
    ms_per_field = statistics.median(best) * 1000
    # Same measure on both sides: wall time per field, read + compute + write, on the same fields
    # under the same machine load (the loop's one long run against the vectorised runs' median).
    same_fields = [t for runs in per_field[: args.loop_fields] for t in runs]
    speedup = statistics.mean(loop_totals) / statistics.median(same_fields)
    loop_cpu = sum(s["cpu"] for s in loop_stages)
    same_cpu = [t for i, t in enumerate(worker["cpu_times"]) if i % args.fields < args.loop_fields]
    same_compute = [t for i, t in enumerate(worker["stages"]["compute"]) if i % args.fields < args.loop_fields]
    cpu_ratio = (loop_cpu / args.loop_fields) / statistics.median(same_cpu)
    compute_speedup = statistics.mean(s["compute"] for s in loop_stages) / statistics.median(same_compute)
    med = {k: statistics.median(v) * 1000 for k, v in worker["stages"].items()}

    print(
        f"core: {cpu} (both paths pinned to it; worker on core {worker['cpu']}), load average {os.getloadavg()[0]:.2f}"
    )
    print(f"ROIs per field (vectorised): {[r[0] for r in worker['results']]}")
    print(
        f"flat field, one channel over {args.fields} fields: vectorised {statistics.median(flat_vec_s):.2f} s, "
        f"loop {flat_loop_s[0]:.2f} s, ratio {flat_loop_s[0] / statistics.median(flat_vec_s):.1f}x"
    )
    print(
        f"vectorised per field (best of {args.repeats} per field, median over fields): {ms_per_field:.1f} ms; "
        f"all {len(totals)} runs: median {statistics.median(totals) * 1000:.1f} ms, max {max(totals) * 1000:.1f} ms "
        f"(median read {med['read']:.1f} ms, compute {med['compute']:.1f} ms, write {med['write']:.1f} ms); "
        f"CPU time median {statistics.median(worker['cpu_times']) * 1000:.1f} ms (the rest of the wall time is "
        f"waiting: fsync of the outputs, other processes on the core)"
    )
    print(
        f"vectorised worker cold start (flat fields loaded, log computed): {worker['cold_setup_s'] * 1000:.1f} "
        "ms once per plate"
    )
    print(
        f"loop per field: {statistics.mean(loop_totals):.1f} s wall, {loop_cpu / args.loop_fields:.1f} s CPU "
        f"(read {statistics.mean(s['read'] for s in loop_stages) * 1000:.1f} ms, "
        f"compute {statistics.mean(s['compute'] for s in loop_stages):.1f} s, "
        f"write {statistics.mean(s['write'] for s in loop_stages) * 1000:.1f} ms) over {args.loop_fields} field(s)"
    )
    print(
        f"ratio loop/vectorised, same fields, end to end: {speedup:.0f}x wall (loop run / median vectorised run), "
        f"{cpu_ratio:.0f}x CPU time; compute only {compute_speedup:.0f}x"
    )
    print(
        f"peak memory per worker: {worker['rss_peak_mib']:.0f} MiB RSS while processing "
        f"({worker['rss_at_rest_mib']:.0f} MiB at rest: interpreter, libraries, the plate's flat fields"
        f"{'' if worker['peak_was_reset'] else '; peak not resettable here, includes start-up'})"
    )
    print(
        f"outputs agree with the loop version: {agree} (same ROI count, centres and windows; "
        f"max ROI value difference {max_diff} of 65535)"
    )
    print(
        f"targets: speedup >= 50x {'met' if speedup >= 50 else 'NOT met'}, <= 100 ms per field "
        f"{'met' if ms_per_field <= 100 else 'NOT met'}"
    )
    print(f"speedup_vs_original={speedup:.0f} ms_per_field={ms_per_field:.1f}")


if __name__ == "__main__":
    main()
