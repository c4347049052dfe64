"""BBBC021 at its real size on this machine: ingest and process-plate of synthetic plates at
1024 x 1280 with the real four fields per well, timed per step and per field, with the peak memory
of every worker, extrapolated to all 13,200 fields; side by side with the original's per-pixel loop
math (tests/unit/imaging/original_loops.py) on the same fields, in one run.

What runs is what a user runs: `bioims.bbbc021.ingest.ingest` (file checks, labels, tags, the
source-plate manifest, process-plate `uploadSourcePlate`: inspection, validation, thumbnails) and
process-plate `processPlate` (validation, flat fields, normalisation + nuclei + ROIs of every
image), on the local backend in a fresh home, with `--workers` worker processes for the maps (the
machine's 2 cores by default). Step times come from the workflow runner's observer; worker memory
is the peak RSS (VmHWM) of every spawned worker process, sampled from /proc while it lives, and
the peak of the main process (the workflows, the flat-field job's merge and writes) since the
workflows started. CPU time (main process + workers) is reported beside the wall time: on a
shared, loaded machine the wall time mostly measures the wait for a core. Where the cores' time went while
the workflows ran (this run's processes, the kernel's threads, idle, waiting for the disk, the
host's steal) is read from /proc/stat, and the workers' kernel time is shown apart. The memory sampler's
own CPU (a thread of the main process that scans /proc) is measured and left out of the main
process's CPU.

Extrapolation: BBBC021 is 55 plates x 240 fields, uploaded and processed plate after plate (as
`bioims bbbc021 ingest` and the process-plate workflow do). The headline comes from CPU time, as
the machine is shared and its wall time mostly measures the wait for a core: the main process's
CPU (orchestration, rows, the flat fields' merge and writes) is counted as serial, the workers'
CPU (file checks, inspection, thumbnails, the flat-field sums, ROIs, their writes and service
calls) is divided by the number of workers, and the sum per field times 13,200 is the time on that
many free cores. The workers' start-up (spawn, imports) is measured apart, on a pool started and
warmed before the workflows, which then reuse it: a command starts its pool once whatever the
number of plates, so it is added once for each of the two commands (ingest, processing), not once
per plate. Waits for the disk (every object written is fsync'ed) are not CPU time and are not in
it; the wall-time extrapolation, 13,200 x (ingest + processing wall time per field) plus the two
start-ups, is printed beside it and is the one to read on an idle machine. With --wells below 60
the per-plate fixed costs (flat-field smoothing, workflow start) are spread over fewer fields, so
both extrapolations over-estimate; --wells 60 is one whole plate.
Where the time goes: each step's array work timed one by one in this process on --step-fields
fields (CPU ms per field).

The loop side: the same fields through the original's math written with its per-pixel Python
loops: thumbnails (`default_artifact`), flat fields (`flat_field`, every field of the plate, per
channel) and ROIs (`preprocess_image`), on --loop-fields fields (the flat field on all), CPU time
per field, compared with ours in CPU time per field and extrapolated the same way (the work shared
by the same number of cores). Inspection is the same reads on both sides and is added to the loop
side as ours measured it.

Run:  python benchmarks/scale.py [--wells 12] [--workers 2] [--loop-fields 1] [--step-fields 8] [--seed 0]
Last line:  bbbc021_minutes=<ingest + processing of BBBC021 on --workers free cores, from CPU time>
            ms_per_field=<CPU ms per field, main + workers> peak_mib_per_worker=<largest worker
            peak RSS> wall_minutes=<the wall-time extrapolation>
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import resource
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.imaging import reset_peak_rss  # one definition of the peak-RSS reset
from bioims.bbbc021 import layout
from bioims.bbbc021.design import load_design
from bioims.bbbc021.synthetic.generate import write_csvs
from bioims.bbbc021.synthetic.model import SynthConfig, SyntheticBbbc021
from bioims.runtime.ports import Observer

BBBC021_FIELDS = 13_200
BBBC021_PLATES = 55
COMMANDS = 2  # BBBC021 is ingested by one command and processed by another; each starts its workers once
EMBEDDING = "scale"
ROI_SIZE, MIN_VOXELS = 128, 200
INGEST_STEPS = ("Plate Images", "Inspect Images", "Upload Validate Plate", "Image Artifacts")
PROCESS_STEPS = ("Embedding Info", "Process Validate Plate", "Plate Flat Fields", "Images To Process", "Process Images")


# --- synthetic plate ---------------------------------------------------------------------------
_world: SyntheticBbbc021 | None = None


def _init(config: SynthConfig) -> None:
    global _world
    _world = SyntheticBbbc021(config)


def _render(job: tuple[str, str, str, int, list[str]]) -> int:
    root, plate, well, site, names = job
    assert _world is not None
    image = _world.render(plate, well, site)
    for channel_image, name in zip(image, names, strict=True):
        tifffile.imwrite(Path(root) / plate / name, channel_image, photometric="minisblack")
    return 1


def render_plate(root: Path, wells: int, config: SynthConfig, workers: int) -> tuple[str, int]:
    """The first `wells` wells (x4 fields) of the first BBBC021 plate as TIFFs plus the CSVs that
    list them (the layout `bioims bbbc021 ingest` reads)."""
    design = load_design()
    plate = design.plates[0]
    fields = design.plate_fields(plate)
    chosen = list(dict.fromkeys(fields["well"]))[:wells]
    fields = fields[fields["well"].isin(chosen) & (fields["site"] <= config.fields_per_well)]
    (root / plate).mkdir(parents=True, exist_ok=True)
    jobs = [
        (str(root), plate, row.well, int(row.site), [getattr(row, f"file_{c}") for c in layout.CHANNELS])
        for row in fields.itertuples(index=False)
    ]
    with ProcessPoolExecutor(max_workers=workers, initializer=_init, initargs=(config,)) as pool:
        count = sum(pool.map(_render, jobs, chunksize=4))
    write_csvs(root, design, config)
    return plate, count


# --- measurement -------------------------------------------------------------------------------
class StepClock(Observer):
    """First start and last end of every named step (map iterations in threads report too)."""

    def __init__(self) -> None:
        self.spans: dict[str, list[float]] = {}
        self.lock = threading.Lock()

    def step_started(self, workflow: str, step: str) -> None:
        with self.lock:
            self.spans.setdefault(step, [time.perf_counter(), 0.0])

    def step_finished(self, workflow: str, step: str) -> None:
        with self.lock:
            self.spans[step][1] = time.perf_counter()

    def seconds(self, step: str) -> float:
        start, end = self.spans.get(step, (0.0, 0.0))
        return max(end - start, 0.0)


def _status_kib(pid: int | str, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _children_cpu() -> float:
    """User + system CPU seconds of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _children_system_cpu() -> float:
    """System (kernel) CPU seconds of this process's finished children."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime


def machine_ticks() -> dict[str, int]:
    """The whole machine's CPU time so far by kind (/proc/stat's first line, clock ticks): where
    the cores' wall time went while the workflows ran, this process's or not."""
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    try:
        with open("/proc/stat") as stat:
            values = stat.readline().split()[1 : 1 + len(names)]
    except OSError:
        return {}
    return dict(zip(names, (int(v) for v in values), strict=False))


class WorkerMemory:
    """Samples VmHWM (peak RSS of the process's own address space, reset by exec) of every
    multiprocessing worker this process spawns, until stopped."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peaks_kib: dict[int, int] = {}
        self.cpu_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.me = os.getpid()

    def _workers(self) -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
                if ppid != self.me:
                    continue
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if b"spawn_main" in handle.read():
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
        return found

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self._workers():
                peak = _status_kib(pid, "VmHWM")
                if peak is not None and peak > self.peaks_kib.get(pid, 0):
                    self.peaks_kib[pid] = peak
            self.cpu_s = time.thread_time()  # this sampler's own CPU, left out of the main process's
            self._stop.wait(self.interval)

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# --- where the time goes ------------------------------------------------------------------------
def _worker_start(hold_s: float) -> tuple[int, float]:
    """In a fresh worker: import what the map iterations need, then hold the worker a moment so
    that every worker of the pool gets one of these; (pid, CPU seconds of the worker so far)."""
    import bioims.jobs.artifacts
    import bioims.jobs.rois
    import bioims.services.registry
    import bioims.workflows.runner  # noqa: F401

    cpu = time.process_time()
    time.sleep(hold_s)
    return os.getpid(), cpu


def start_worker_pool(workers: int) -> tuple[dict[int, float], float]:
    """Start the shared pool the workflows' maps will use (bioims.workflows.runner) and import the
    map code in each of its workers: ({pid: start-up CPU s}, wall s). The pool lives on, so the
    timed workflows run on warm workers and their CPU below is the work of the plate alone; a
    command that ingests or processes many plates starts its pool once (the maps of a process
    share it), so the start-up is counted once per command, not per plate."""
    from bioims.workflows.runner import shared_process_pool

    start = time.perf_counter()
    pool = shared_process_pool(workers)
    probes = [pool.submit(_worker_start, 1.0) for _ in range(workers)]
    started = dict(probe.result() for probe in probes)
    if len(started) != workers:
        raise SystemExit(f"the start-up probes reached {len(started)} of {workers} workers")
    return started, time.perf_counter() - start - 1.0


def step_parts(stores, rows: list[dict], plate_id: str, roi_parameters) -> dict[str, float]:
    """CPU seconds per field of each step's array work, measured in this process on one core with
    the functions the steps call (the same code the workers run): the reads, inspection, the
    thumbnails (colour MIP, then resize + encode per artifact), the flat-field sums, the ROIs and
    the serialisation of the ROI set. Store writes, rows and registrations are not included."""
    from bioims.imaging.flatfield import FlatFieldAccumulator
    from bioims.imaging.inspection import inspect_image
    from bioims.imaging.io import channel_sources, npy_bytes, read_image
    from bioims.imaging.params import ArtifactParameters
    from bioims.imaging.pipeline import preprocess_image
    from bioims.imaging.thumbnails import colour_mip_raw, encode, render_thumbnails
    from bioims.jobs.rois import flat_field_cache

    parts: dict[str, float] = {}

    def timed(name: str, call):
        c0 = time.process_time()
        out = call()
        parts[name] = parts.get(name, 0.0) + (time.process_time() - c0) / len(rows)
        return out

    accumulators: list[FlatFieldAccumulator] = []
    for row in rows:
        sources = channel_sources(row)
        timed("ingest: inspection (reads every channel)", lambda: inspect_image(stores, row))
        channels = timed("ingest: thumbnails: read the channels", lambda: read_image(stores, sources, row["imageId"]))
        timed("ingest: thumbnails (render_thumbnails: MIP + every artifact)", lambda: render_thumbnails(channels))
        mip = timed("ingest: thumbnails, of which: colour MIP", lambda: colour_mip_raw(channels))
        for name, size in ArtifactParameters().pairs():
            timed(f"ingest: thumbnails, of which: resize + encode {name} ({size} px)", lambda: encode(mip, size, name))
        channels = timed("process: flat fields: read the channels", lambda: read_image(stores, sources, row["imageId"]))
        if not accumulators:
            accumulators = [FlatFieldAccumulator(channels[0].shape) for _ in channels]
        timed(
            "process: flat fields: add to the sums",
            lambda: [a.add(raw) for a, raw in zip(accumulators, channels, strict=True)],
        )
        channels = timed("process: ROIs: read the channels", lambda: read_image(stores, sources, row["imageId"]))
        flats = [flat_field_cache.get(stores.data, plate_id, s.name, channels[0].shape) for s in sources]
        result = timed(
            "process: ROIs: normalise, nuclei, crops",
            lambda: preprocess_image([s.name for s in sources], channels, flats, roi_parameters),
        )
        timed("process: ROIs: serialise the ROI tensor", lambda: npy_bytes(result.tensor))
    return parts


def flat_finalise_seconds(plate_mean: np.ndarray) -> float:
    """CPU seconds of one channel's flat field from its plate mean (cut-off + sigma-50 Gaussian):
    a fixed cost per plate and channel."""
    from bioims.imaging.flatfield import flat_field_from_mean

    c0 = time.process_time()
    flat_field_from_mean(plate_mean)
    return time.process_time() - c0


# --- the loop side -----------------------------------------------------------------------------
def loop_baseline(images: list[list], flats: list[np.ndarray], all_fields: list[list], loop_fields: int) -> dict:
    """CPU seconds of the original's loop math on the same fields (the reads are not timed)."""
    from bioims.imaging.params import RoiParameters
    from tests.unit.imaging import original_loops as original

    parameters = RoiParameters()
    thumbs, rois = [], []
    for channels in images[:loop_fields]:
        c0 = time.process_time()
        original.default_artifact(channels)
        thumbs.append(time.process_time() - c0)
        c0 = time.process_time()
        original.preprocess_image(list(layout.CHANNELS), channels, flats, parameters.roi_size, parameters.min_voxels)
        rois.append(time.process_time() - c0)
    c0 = time.process_time()
    for c in range(len(layout.CHANNELS)):
        original.flat_field([field[c] for field in all_fields])
    flat_total = time.process_time() - c0
    return {
        "thumbnails": statistics.mean(thumbs),
        "rois": statistics.mean(rois),
        "flat_per_field": flat_total / len(all_fields),
        "flat_total": flat_total,
    }


# --- main --------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--wells", type=int, default=12, help="wells of the plate (x4 fields); 60 = a whole BBBC021 plate"
    )
    parser.add_argument(
        "--workers", type=int, default=len(os.sched_getaffinity(0)), help="worker processes (default: the cores)"
    )
    parser.add_argument("--loop-fields", type=int, default=1, help="fields put through the loop math (slow)")
    parser.add_argument(
        "--step-fields", type=int, default=8, help="fields whose steps are timed one by one in this process"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the rendered plate here and reuse it in later runs (default: a temporary folder)",
    )
    args = parser.parse_args()
    if not 1 <= args.wells <= 60:
        parser.error("--wells must be 1..60 (a BBBC021 plate has 60 wells)")
    if args.workers < 1 or args.loop_fields < 0 or args.step_fields < 1:
        parser.error("--workers and --step-fields must be >= 1, --loop-fields >= 0")
    os.environ["BIOIMS_WORKERS"] = str(args.workers)

    from bioims import client
    from bioims.bbbc021.ingest import ingest
    from bioims.config import Settings
    from bioims.context import Context, use
    from bioims.imaging.io import channel_sources, read_image
    from bioims.imaging.outputs import read_flat_field
    from bioims.imaging.params import RoiParameters
    from bioims.store import Stores

    config = SynthConfig(seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="bioims-bench-scale-") as tmp:
        tmp_path = Path(tmp)
        data_dir = args.data_dir / f"wells{args.wells}-seed{args.seed}" if args.data_dir else tmp_path / "bbbc021"
        t0 = time.perf_counter()
        marker = data_dir / "rendered.json"
        if marker.exists():  # rendered by an earlier run with the same wells and seed (deterministic)
            plate_name, n_fields = json.loads(marker.read_text())
            how = f"read from {data_dir}"
        else:
            plate_name, n_fields = render_plate(data_dir, args.wells, config, args.workers)
            marker.write_text(json.dumps([plate_name, n_fields]))
            how = f"rendered in {time.perf_counter() - t0:.1f} s with {args.workers} workers"
        print(
            f"synthetic BBBC021 plate {plate_name}: {args.wells} wells x {config.fields_per_well} fields = "
            f"{n_fields} fields "
            f"of {config.height}x{config.width}x3 uint16 ({how})"
        )

        settings = Settings(home=tmp_path / "home")
        ctx = Context(settings, Stores(settings))
        use(ctx)
        clock = StepClock()
        ctx.runtime.observer = clock
        reset = reset_peak_rss()
        children0 = _children_cpu()
        system0 = _children_system_cpu()
        with WorkerMemory() as memory:
            started, start_wall_s = start_worker_pool(args.workers) if args.workers > 1 else ({}, 0.0)
            c0 = time.process_time()
            machine0 = machine_ticks()
            t0 = time.perf_counter()
            report = ingest(data_dir, [plate_name], context=ctx, embedding=EMBEDDING)
            ingest_s = time.perf_counter() - t0
            plate_id = report.plates[0].plate_id
            client("training-configuration", ctx).createEmbedding(
                {
                    "embeddingName": EMBEDDING,
                    "inputWidth": config.width,
                    "inputHeight": config.height,
                    "inputDepth": 1,
                    "inputChannels": 3,
                    "roiWidth": ROI_SIZE,
                    "roiHeight": ROI_SIZE,
                    "minVoxels": MIN_VOXELS,
                    "segmentationChannel": "dapi",
                    "network": "bbbc021-1",
                    "comments": "benchmarks/scale.py",
                }
            )
            t1 = time.perf_counter()
            outcome = client("process-plate", ctx).call(
                "processPlate", plateId=plate_id, embeddingName=EMBEDDING, wait=True
            )
            process_s = time.perf_counter() - t1
            main_cpu_s = time.process_time() - c0
            machine = {k: v - machine0.get(k, 0) for k, v in machine_ticks().items()}
            from bioims.workflows.runner import shutdown_process_pool

            shutdown_process_pool()  # the shared workers exit: their CPU time becomes countable
        start_cpu_s = sum(started.values())
        worker_cpu_s = _children_cpu() - children0 - start_cpu_s  # the plate's work on warm workers
        worker_system_s = _children_system_cpu() - system0  # the kernel's share, start-up included
        if started and set(memory.peaks_kib) - set(started):
            raise SystemExit("the workflows started workers of their own: the warm pool was not reused")
        main_cpu_s -= memory.cpu_s  # scanning /proc for the workers' memory is the benchmark's, not the run's
        if outcome.get("status") != "SUCCEEDED":
            raise SystemExit(f"process-plate did not succeed: {outcome}")
        main_peak_mib = (_status_kib("self", "VmHWM") or 0) / 1024
        from bioims.jobs.status import image_status

        rows = ctx.service("image-management").plate_images(plate_id)
        rois = [int((image_status(r, EMBEDDING) or {}).get("roiCount", 0)) for r in rows]

        shape = (1, config.height, config.width)
        parts = step_parts(ctx.stores, rows[: args.step_fields], plate_id, RoiParameters(ROI_SIZE, MIN_VOXELS, "dapi"))
        firsts = [read_image(ctx.stores, channel_sources(r), r["imageId"])[0] for r in rows[:8]]
        finalise_s = flat_finalise_seconds(np.mean([f.astype(np.float64) / 65535 for f in firsts], axis=0))
        del firsts
        loop = None
        if args.loop_fields:  # the loop side's flat field needs every field in memory at once, as the original did
            fields = [read_image(ctx.stores, channel_sources(r), r["imageId"]) for r in rows]
            flats = [read_flat_field(ctx.stores.data, plate_id, c, shape).array for c in layout.CHANNELS]
            loop = loop_baseline(fields, flats, fields, args.loop_fields)
            del fields

    # --- report ------------------------------------------------------------------------------
    per_field = lambda s: s / n_fields * 1000  # noqa: E731 - ms per field
    print(
        f"load average {os.getloadavg()[0]:.2f}; {args.workers} workers; ROIs per field: median "
        f"{statistics.median(rois) if rois else 0:.0f}"
    )
    print(f"{'step':<28} {'wall s':>8} {'ms/field':>9}")
    for title, steps, total in (("ingest", INGEST_STEPS, ingest_s), ("process-plate", PROCESS_STEPS, process_s)):
        for step in steps:
            s = clock.seconds(step)
            print(f"  {step:<26} {s:>8.2f} {per_field(s):>9.1f}")
        other = total - sum(clock.seconds(s) for s in steps)
        print(f"  {'(rest: checks, rows, tags)':<26} {other:>8.2f} {per_field(other):>9.1f}")
        print(f"{title + ' total':<28} {total:>8.2f} {per_field(total):>9.1f}")
    ms_per_field = per_field(ingest_s + process_s)
    minutes = (ingest_s + process_s) / n_fields * BBBC021_FIELDS / 60
    worker_peaks = sorted(v / 1024 for v in memory.peaks_kib.values())
    peak_worker = max(worker_peaks) if worker_peaks else 0.0
    print(
        f"peak RSS per worker process: {', '.join(f'{p:.0f}' for p in worker_peaks) or 'no workers'} MiB "
        f"({len(worker_peaks)} worker processes over both workflows); main process (workflows, services): "
        f"{main_peak_mib:.0f} MiB{'' if reset else ' (peak not resettable: includes rendering set-up)'}; "
        f"main CPU {main_cpu_s:.1f} s "
        f"(the memory sampler's {memory.cpu_s:.1f} s left out)"
    )
    print(
        f"where the time goes: CPU ms per field of each step's array work, timed one by one in this process "
        f"(one core) on {min(args.step_fields, n_fields)} of the fields with the functions the steps run:"
    )
    for name, seconds in parts.items():
        print(f"  {name:<60} {seconds * 1000:>7.1f}")
    print(
        f"  {'sum (without the of-which lines)':<60} "
        f"{sum(v for k, v in parts.items() if 'of which' not in k) * 1000:>7.1f}"
    )
    print(
        f"  flat field from the plate mean (cut-off + Gaussian sigma 50): {finalise_s:.2f} s CPU per channel, "
        f"x3 channels x {BBBC021_PLATES} plates = {finalise_s * 3 * BBBC021_PLATES / 60:.1f} min on one core"
    )
    print(
        f"  worker start-up (spawn + imports): {start_cpu_s:.2f} s CPU over {len(started)} workers, "
        f"{start_wall_s:.2f} s wall; once per command (`bioims bbbc021 ingest`, then `bioims process-plate` of "
        f"every plate: the maps of a process share one pool), so {COMMANDS} x for BBBC021, not once per plate; "
        f"not in the workers' CPU below"
    )
    # CPU time -> minutes on free cores. The main process runs the orchestration, the rows and the
    # flat fields' merge and writes while the workers wait or idle: its CPU is counted as serial.
    # The workers' CPU (file checks, inspection, thumbnails, flat-field sums, ROIs, their store
    # writes and service calls) is shared by the workers, assuming they are evenly busy; their
    # start-up is added once per command. Time spent waiting for the disk (fsync of every object
    # written) is not CPU time and is not included: the measured wall time (when the machine is
    # idle) shows it.
    cpu_field_s = (main_cpu_s + worker_cpu_s) / n_fields
    free_field_s = (main_cpu_s + worker_cpu_s / args.workers) / n_fields
    cpu_minutes = (free_field_s * BBBC021_FIELDS + COMMANDS * start_cpu_s / max(args.workers, 1)) / 60
    minutes += COMMANDS * start_wall_s / 60
    print(
        f"CPU time: main {main_cpu_s:.1f} s + workers {worker_cpu_s:.1f} s (of which the kernel's "
        f"{worker_system_s:.1f} s, start-up included) = {cpu_field_s * 1000:.0f} ms per field; "
        f"on {args.workers} free cores (main CPU serial, workers' CPU / {args.workers}) BBBC021 "
        f"({BBBC021_FIELDS} fields, {BBBC021_PLATES} plates, plate after plate) takes {cpu_minutes:.1f} min "
        f"(goal <= 15 min: {'met' if cpu_minutes <= 15 else 'NOT met'})"
    )
    worker_array = sum(
        v
        for k, v in parts.items()
        if "of which" not in k  # inspection and flat-field sums run on the workers too
    )
    if worker_cpu_s > 0:  # with one worker the maps run in the main process
        print(
            f"  the workers' CPU not in the array work above (store writes, rows, registrations, "
            f"status): {(worker_cpu_s / n_fields - worker_array) * 1000:.0f} ms per field"
        )
    total_ticks = sum(machine.values())
    if total_ticks:
        share = {k: 100 * v / total_ticks for k, v in machine.items()}
        ours = 100 * (main_cpu_s + worker_cpu_s) * os.sysconf("SC_CLK_TCK") / total_ticks
        print(
            f"the machine's cores during the workflows: user {share['user'] + share['nice']:.0f} %, kernel "
            f"{share['system'] + share['irq'] + share['softirq']:.0f} %, idle {share['idle']:.0f} %, waiting for "
            f"the disk {share['iowait']:.0f} %, taken by the host {share['steal']:.0f} %; this run's processes "
            f"{ours:.0f} % (the rest: kernel threads such as writeback, other processes)"
        )
    print(
        f"wall time: {ms_per_field:.0f} ms per field, extrapolated {minutes:.1f} min at load average "
        f"{os.getloadavg()[0]:.1f} (on a shared machine the wall time mostly measures the wait for a core)"
    )
    if loop is not None:
        read_inspect = clock.seconds("Inspect Images") / n_fields  # same reads on both sides (threads, wall)
        loop_field_s = loop["thumbnails"] + loop["rois"] + loop["flat_per_field"] + read_inspect
        loop_minutes = loop_field_s * BBBC021_FIELDS / args.workers / 60
        print(
            f"original's loop math, CPU s per field ({args.loop_fields} field(s); flat field over all {n_fields}): "
            f"thumbnails {loop['thumbnails']:.1f}, ROIs {loop['rois']:.1f}, flat field {loop['flat_per_field']:.2f} "
            f"(plate {loop['flat_total']:.1f}), + inspection I/O {read_inspect:.2f}"
        )
        print(
            f"loop path extrapolated to BBBC021 on {args.workers} free cores: {loop_minutes:.0f} min "
            f"({loop_minutes / 60:.1f} h) against ours {cpu_minutes:.1f} min, CPU time on both sides: "
            f"{loop_field_s / cpu_field_s:.0f}x (per field: loop {loop_field_s:.1f} s, ours {cpu_field_s:.2f} s)"
        )
    print(
        f"bbbc021_minutes={cpu_minutes:.1f} ms_per_field={cpu_field_s * 1000:.1f} "
        f"peak_mib_per_worker={peak_worker:.0f} "
        f"wall_minutes={minutes:.1f}"
    )


if __name__ == "__main__":
    main()
