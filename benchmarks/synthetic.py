"""Benchmark of the synthetic BBBC021: rendering speed and how hard its MOA problem is.

Side by side in one run:
  1. speed: seconds per full-size (1024 x 1280) field against the 0.5 s budget;
  2. difficulty: NSC and NSCB (treatment level, cosine 1-NN, batch = week; bioims.evaluation) of a
     baseline profile with no learning (per-field intensity and texture statistics, field -> well
     median, a bioims.profiling recipe at well level, well -> treatment median), against chance
     (bioims.evaluation's: the expected accuracy of a random allowed neighbour) and against 100 %.

The evaluated set is the one of Ljosa et al. 2013: the wells of the 103 annotated treatments and
all DMSO wells (632 wells of 55 plates), rendered in memory (no TIFFs written).

Run:  .venv/bin/python benchmarks/synthetic.py [--size 512x640] [--fields 2] [--seed 0] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from bioims.bbbc021.design import load_design
from bioims.bbbc021.synthetic.model import SynthConfig, SyntheticBbbc021, bank_warmup
from bioims.evaluation import nsc, nscb
from bioims.features.fieldstats import field_features
from bioims.profiling.aggregate import aggregate
from bioims.profiling.recipes import apply_recipe

# Profile recipes of bioims.profiling compared side by side (raw features, per-plate robust z
# against DMSO, and the default recipe: robust z, clip, feature selection, whitening on DMSO).
RECIPES_SHOWN = ("raw", "robustize", "default")


_WORLD: SyntheticBbbc021 | None = None


def _init(config: SynthConfig) -> None:
    global _WORLD
    _WORLD = SyntheticBbbc021(config)
    bank_warmup(config)


def _well_features(plate: str, well: str, sites: list[int]) -> list[dict]:
    assert _WORLD is not None
    return [{"site": s, **field_features(_WORLD.render(plate, well, s))} for s in sites]


def evaluation_wells(design) -> pd.DataFrame:
    """The Ljosa et al. 2013 set: wells of annotated treatments and DMSO wells."""
    f = design.fields
    wells = f[f["moa"].notna()].drop_duplicates(["plate", "well"])
    return wells[["plate", "well", "week", "compound", "concentration", "moa"]].reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="512x640", help="HxW of the evaluated fields")
    parser.add_argument("--fields", type=int, default=2, help="fields per well")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--speed-fields", type=int, default=12, help="full-size fields timed")
    parser.add_argument("--only", choices=("speed", "difficulty"), default=None, help="run one half only")
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.size.lower().split("x"))
    design = load_design()

    print(f"synthetic BBBC021 benchmark (seed {args.seed})")
    if args.only != "difficulty":
        report_speed(design, args.seed, args.speed_fields)
    if args.only != "speed":
        report_difficulty(design, args.seed, height, width, args.fields, args.workers)
    return 0


def report_speed(design, seed: int, n_fields: int) -> None:
    """Seconds per full-size field over `n_fields` random fields: wall clock (median and fastest)
    and this process's CPU time (median), which other processes competing for the cores do not
    inflate; the load average says how busy the machine was."""
    full = SyntheticBbbc021(SynthConfig(seed=seed), design)
    bank_warmup(full.config)
    rows = design.fields.sample(n_fields, random_state=1)
    full.render(rows.iloc[0]["plate"], rows.iloc[0]["well"], int(rows.iloc[0]["site"]))  # warm caches
    wall, cpu = [], []
    for row in rows.itertuples(index=False):
        start, start_cpu = time.perf_counter(), time.process_time()
        full.render(row.plate, row.well, int(row.site))
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    median, median_cpu = float(np.median(wall)), float(np.median(cpu))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"speed: {median:.3f} s wall per full-size field (median of {len(wall)}, fastest {min(wall):.3f} s), "
        f"{median_cpu:.3f} s CPU (median); budget 0.5 s, ratio {median / 0.5:.2f} wall, {median_cpu / 0.5:.2f} CPU; "
        f"load average {load:.1f} on {os.cpu_count()} cores"
    )


def report_difficulty(design, seed: int, height: int, width: int, fields: int, workers: int) -> None:
    """NSC/NSCB of the baseline profile per recipe, against chance."""
    config = SynthConfig(seed=seed, height=height, width=width, fields_per_well=fields)
    wells = evaluation_wells(design)
    sites = list(range(1, fields + 1))
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(config,)) as pool:
        results = list(pool.map(_well_features, wells["plate"], wells["well"], [sites] * len(wells), chunksize=8))
    render_seconds = time.perf_counter() - start
    records = []
    for (_, well), well_fields in zip(wells.iterrows(), results, strict=True):
        for f in well_fields:
            records.append(
                {
                    "Metadata_Plate": well["plate"],
                    "Metadata_Well": well["well"],
                    "Metadata_Site": f.pop("site"),
                    "Metadata_Compound": well["compound"],
                    "Metadata_Concentration": well["concentration"],
                    "Metadata_moa": well["moa"],
                    "Metadata_Batch": well["week"],
                    **f,
                }
            )
    images = pd.DataFrame.from_records(records)
    well_profiles = aggregate(images, "well", method="median")
    variants = {name: apply_recipe(well_profiles, name) for name in RECIPES_SHOWN}
    print(
        f"difficulty set: {len(wells)} wells x {fields} fields at {height}x{width}, "
        f"{images.shape[1] - 7} features, rendered in {render_seconds:.1f} s with {workers} worker(s)"
    )
    results = {name: (nsc(table, "treatment"), nscb(table, "treatment")) for name, table in variants.items()}
    # Chance (bioims.evaluation's: the share of same-MOA candidates among the allowed ones, per
    # query) depends on the metadata only, so it is the same for every recipe.
    first_nsc, first_nscb = next(iter(results.values()))
    chance_nsc, chance_nscb = first_nsc.chance, first_nscb.chance
    print(f"{'profile recipe':<30} {'NSC':>14} {'NSCB':>14}   NSC/chance  NSCB/chance")
    print(f"{'chance (random neighbour)':<30} {chance_nsc:>14.3f} {chance_nscb:>14.3f}")
    for name, (a, b) in results.items():
        print(
            f"{name:<30} {a.accuracy:>6.3f} ({a.correct:>3}/{a.total:<3}) {b.accuracy:>6.3f} "
            f"({b.correct:>2}/{b.total:<2})"
            f"   {a.accuracy / chance_nsc:>9.1f}x {b.accuracy / chance_nscb:>10.1f}x"
        )


if __name__ == "__main__":
    sys.exit(main())
