"""Benchmark of the embedding networks: throughput, and what training does to NSC, side by side.

1. Throughput: for every network in bioims.learning.networks, on
ROIs of the BBBC021 geometry (3 channels x 128 px by default) written as real ROI files:
- training ROIs/s: whole training steps (pair sampling, streamed reading from memory-mapped ROI
  files, augmentation, forward, N-pair loss, backward, optimiser step) at the network's default
  hyperparameters (bbbc021-1: 1 group of 13 pairs = 26 ROIs per step; bioims-resnet: 4 groups =
  104 ROIs per step);
- inference ROIs/s: `embed_rois` (eval mode, fixed chunks) over a block of ROIs.
Each figure is the median of `--repeats` timed runs after one warm-up. Ratios are against bbbc021-1.

2. NSC (treatment level, cosine 1-NN over other compounds' treatments, bioims.evaluation) on a
small synthetic BBBC021 screen (tests/unit/learning/synthetic_screen.py: two Week1 plates, 13
annotated treatments of six compounds in three MOAs plus DMSO, real imaging math for the ROIs), for
each network and seed: (a) the network untrained (its seeded initial weights), the network after
a short CPU training, and (b) the simple baseline profile of the synthetic-data benchmark
(bioims.features.fieldstats: per-field intensity and texture statistics, no learning), and (c) the
CellProfiler-feature embedding (bioims.features, no training, default recipe). Recipes:
bioims-resnet at its defaults; bbbc021-1 with AdamW (lr 3e-4), batch 2 and per-channel input
standardisation, because at the original's settings it does not move in minutes of CPU.

Run:  .venv/bin/python benchmarks/learning.py [--roi-size 128] [--channels 3] [--classes 13]
          [--steps 5] [--inference-rois 256] [--threads 0] [--seeds 1 2 3] [--epochs 5]
          [--minibatches 50] [--skip-throughput] [--skip-nsc]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bioims import keys
from bioims.learning.device import available_cores
from bioims.learning.hyperparameters import resolve_config
from bioims.learning.inference import embed_rois
from bioims.learning.manifest import prepare_training_set
from bioims.learning.networks import NETWORKS
from bioims.learning.trainer import Trainer, _Minibatches
from bioims.store.localfs import LocalObjectStore

EMBEDDING = "bench"
NSC_RECIPES = {
    "bbbc021-1": {"optimizer": "adamw", "lr": 0.0003, "batch_size": 2, "input_norm": "dataset"},
    "bioims-resnet": {},
}


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def write_random_set(root: Path, *, classes: int, channels: int, size: int, rois: int, seed: int = 0) -> list[dict]:
    """Two images (two wells) per class with `rois` random uint16 ROIs each, as image rows."""
    store = LocalObjectStore(root)
    rng = np.random.default_rng(seed)
    rows = []
    for label in range(classes):
        for well in range(2):
            image_id = f"c{label}w{well}"
            prefix = keys.train_prefix(EMBEDDING, "plate", image_id)
            store.put_bytes(
                prefix + keys.SUFFIX_TRAIN,
                _npy(rng.integers(0, 65535, (rois, channels, 1, size, size), dtype=np.uint16)),
            )
            store.put_bytes(prefix + keys.SUFFIX_LABEL, _npy(np.full(rois, label, np.int32)))
            store.put_bytes(prefix + keys.SUFFIX_SUBCLASS, _npy(np.full(rois, label, np.int32)))
            rows.append(
                {
                    "imageId": image_id,
                    "plateId": "plate",
                    "wellId": f"w{label}-{well}",
                    "trainCategory": "moa",
                    "trainLabel": f"moa{label}",
                    "trainSubclass": f"cpd{label}",
                }
            )
    return rows


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(network: str, root: Path, manifest, args) -> dict[str, float]:
    config = resolve_config({"network": network, "threads": args.threads, "minibatches_per_epoch": 10_000})
    trainer = Trainer(manifest, root, config, checkpoint_dir=root / f"ckpt-{network}")
    dataset = _Minibatches(trainer.reader, trainer.table, trainer.sampler, config, 0)
    counter = iter(range(10**9))

    def train_steps() -> None:
        for _ in range(args.steps):
            index = next(counter)
            trainer._step(dataset[index], 0, index)

    rois_per_step = 2 * config.batch_size * trainer.sampler.num_classes
    train_s = _median_time(train_steps, args.repeats)
    block = trainer.reader.gather(trainer.table.image[: args.inference_rois], trainer.table.roi[: args.inference_rois])
    infer_s = _median_time(lambda: embed_rois(trainer.net, block), args.repeats)
    return {
        "params": sum(p.numel() for p in trainer.net.parameters()),
        "rois_per_step": rois_per_step,
        "train_rois_s": rois_per_step * args.steps / train_s,
        "infer_rois_s": block.shape[0] / infer_s,
    }


def throughput(args) -> None:
    rois_per_image = max(8, -(-args.inference_rois // (2 * args.classes)))
    with tempfile.TemporaryDirectory(prefix="bioims-bench-learning-") as tmp:
        root = Path(tmp) / "data"
        rows = write_random_set(
            root, classes=args.classes, channels=args.channels, size=args.roi_size, rois=rois_per_image
        )
        manifest = prepare_training_set(LocalObjectStore(root), "bench", EMBEDDING, rows, validation_fraction=0.0)
        results = {name: measure(name, root, manifest, args) for name in NETWORKS}
    base = results["bbbc021-1"]
    print(
        f"throughput: ROIs {args.channels} x {args.roi_size} x {args.roi_size}, {args.classes} classes, "
        f"torch threads {args.threads or available_cores()}, CPU, median of {args.repeats}"
    )
    print(f"{'network':<16}{'params':>12}{'ROIs/step':>11}{'train ROIs/s':>14}{'x':>7}{'infer ROIs/s':>14}{'x':>7}")
    for name, r in results.items():
        print(
            f"{name:<16}{r['params']:>12,}{r['rois_per_step']:>11}{r['train_rois_s']:>14.1f}"
            f"{r['train_rois_s'] / base['train_rois_s']:>7.2f}{r['infer_rois_s']:>14.1f}"
            f"{r['infer_rois_s'] / base['infer_rois_s']:>7.2f}"
        )


def _screen_nsc(model_dir: Path, store, rows) -> float:
    from bioims.evaluation import nsc
    from bioims.learning.inference import image_embedding
    from bioims.learning.modelcard import load_model
    from bioims.learning.roifiles import load_npy
    from tests.unit.learning.synthetic_screen import profile_table

    net, _ = load_model(model_dir)
    embeddings = {}
    for row in rows:
        rois = load_npy(store, keys.roi_tensor_key("screen", row["plateId"], row["imageId"]))
        if rois.shape[0]:
            embeddings[row["imageId"]] = image_embedding(embed_rois(net, rois))
    return float(nsc(profile_table(rows, embeddings), "treatment").queries["correct"].mean())


def _baseline_nsc(rows, fields, recipe: str | None = None) -> float:
    """NSC of the field statistics, raw (recipe None) or through a profiling recipe (the
    methods table of `bioims report` uses the default one, as for CellProfiler features)."""
    import pandas as pd

    from bioims.evaluation import nsc
    from bioims.features.fieldstats import field_features
    from bioims.profiling.columns import COMPOUND, CONCENTRATION, IMAGE_ID, MOA, PLATE, WELL

    records = [
        {
            PLATE: r["plateSourceId"],
            WELL: r["wellSourceId"],
            IMAGE_ID: r["imageId"],
            COMPOUND: r["trainSubclass"],
            CONCENTRATION: r["metadata"]["concentration"],
            MOA: r["trainLabel"],
            **field_features(fields[r["imageId"]]),
        }
        for r in rows
        if r.get("trainLabel")
    ]
    table = pd.DataFrame.from_records(records)
    if recipe is not None:
        from bioims.profiling import apply_recipe

        table = apply_recipe(table, recipe)
    return float(nsc(table, "treatment").queries["correct"].mean())


def _cellprofiler_nsc(store, rows) -> float:
    """NSC of the CellProfiler-feature embedding as `bioims report` evaluates it (bioims.features:
    default groups, image = NaN-ignoring mean of its ROIs, then the default profiling recipe,
    unchanged)."""
    import numpy as np
    import pandas as pd

    from bioims.evaluation import nsc
    from bioims.features.cellprofiler import roi_features
    from bioims.features.plates import image_profile
    from bioims.learning.roifiles import load_npy
    from bioims.profiling import apply_recipe
    from bioims.profiling.columns import COMPOUND, CONCENTRATION, IMAGE_ID, MOA, PLATE, WELL

    records, profiles = [], []
    for row in rows:
        rois = load_npy(store, keys.roi_tensor_key("screen", row["plateId"], row["imageId"]))
        if not rois.shape[0]:
            continue
        matrix, names = roi_features(rois, ("dapi", "tubulin", "actin"), 0)
        profiles.append(image_profile(matrix))
        records.append(
            {
                PLATE: row["plateSourceId"],
                WELL: row["wellSourceId"],
                IMAGE_ID: row["imageId"],
                COMPOUND: row["trainSubclass"],
                CONCENTRATION: row["metadata"]["concentration"],
                MOA: row.get("trainLabel"),
            }
        )
    meta = pd.DataFrame.from_records(records)
    table = pd.concat([meta, pd.DataFrame(np.stack(profiles), columns=names)], axis=1)
    table = apply_recipe(table, "default")
    return float(nsc(table[table[MOA].notna() | (table[COMPOUND] == "DMSO")], "treatment").queries["correct"].mean())


def nsc_comparison(args) -> None:
    from bioims.learning.trainer import train_network, write_untrained_model
    from tests.unit.learning.synthetic_screen import render_screen

    with tempfile.TemporaryDirectory(prefix="bioims-bench-nsc-") as tmp:
        root = Path(tmp) / "data"
        fields: dict = {}
        started = time.perf_counter()
        store, rows = render_screen(root, fields_out=fields)
        manifest = prepare_training_set(store, "screen-train", "screen", rows, validation_fraction=0.2, seed=0)
        print(
            f"\nNSC on the synthetic screen: {manifest.counts['images']} labelled images, "
            f"{manifest.counts['rois']} ROIs, "
            f"{len(manifest.classes)} classes (rendered and cut in {time.perf_counter() - started:.1f} s); "
            f"{args.epochs} x {args.minibatches} minibatches, torch threads {args.threads or available_cores()}"
        )
        baseline = _baseline_nsc(rows, fields)
        baseline_recipe = _baseline_nsc(rows, fields, "default")
        started = time.perf_counter()
        cellprofiler = _cellprofiler_nsc(store, rows)
        print(
            f"CellProfiler features (bioims.features, default groups and recipe, no training): NSC {cellprofiler:.3f} "
            f"({time.perf_counter() - started:.1f} s); field-statistics baseline: NSC {baseline:.3f} "
            f"(raw), {baseline_recipe:.3f} (default recipe, as the CellProfiler features and `bioims report`)"
        )
        print(
            f"{'network':<16}{'seed':>5}{'untrained':>11}{'trained':>9}{'baseline':>10}"
            f"{'cellprofiler':>13}{'trained-untrained':>19}{'train s':>9}"
        )
        for network, recipe in NSC_RECIPES.items():
            gains = []
            for seed in args.seeds:
                config = resolve_config(
                    {
                        "network": network,
                        **recipe,
                        "seed": seed,
                        "epochs": args.epochs,
                        "minibatches_per_epoch": args.minibatches,
                        "patience": args.epochs,
                        "threads": args.threads,
                        "log_every": 10**6,
                    }
                )
                out = Path(tmp) / f"{network}-{seed}"
                write_untrained_model(manifest, root, config, out / "untrained")
                started = time.perf_counter()
                train_network(manifest, root, config, out / "trained")
                seconds = time.perf_counter() - started
                untrained, trained = (
                    _screen_nsc(out / "untrained", store, rows),
                    _screen_nsc(out / "trained", store, rows),
                )
                gains.append(trained - untrained)
                print(
                    f"{network:<16}{seed:>5}{untrained:>11.3f}{trained:>9.3f}{baseline:>10.3f}{cellprofiler:>13.3f}"
                    f"{trained - untrained:>+19.3f}{seconds:>9.1f}"
                )
            print(f"{network:<16}{'mean':>5}{'':>11}{'':>9}{'':>10}{'':>13}{statistics.mean(gains):>+19.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roi-size", type=int, default=128)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--classes", type=int, default=13)
    parser.add_argument("--steps", type=int, default=5, help="training steps per timed run")
    parser.add_argument("--inference-rois", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = all usable cores)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="training seeds of the NSC part")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--minibatches", type=int, default=50, help="minibatches per epoch in the NSC part")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-nsc", action="store_true")
    args = parser.parse_args()
    if not args.skip_throughput:
        throughput(args)
    if not args.skip_nsc:
        nsc_comparison(args)


if __name__ == "__main__":
    main()
