"""Benchmark of the embedding networks: training and inference throughput, side by side.

Throughput (this part needs no trained model): for every network in bioims.learning.networks, on
ROIs of the BBBC021 geometry (3 channels x 128 px by default) written as real ROI files:
- training ROIs/s: whole training steps (pair sampling, streamed reading from memory-mapped ROI
  files, augmentation, forward, N-pair loss, backward, optimiser step) at the network's default
  hyperparameters (bbbc021-1: 1 group of 13 pairs = 26 ROIs per step; bioims-resnet: 4 groups =
  104 ROIs per step);
- inference ROIs/s: `embed_rois` (eval mode, fixed chunks) over a block of ROIs.
Each figure is the median of `--repeats` timed runs after one warm-up. Ratios are against bbbc021-1.

Run:  .venv/bin/python benchmarks/learning.py [--roi-size 128] [--channels 3] [--classes 13]
                                              [--steps 5] [--inference-rois 256] [--threads 0]
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

from bioims import keys  # noqa: E402
from bioims.learning.device import available_cores  # noqa: E402
from bioims.learning.hyperparameters import resolve_config  # noqa: E402
from bioims.learning.inference import embed_rois  # noqa: E402
from bioims.learning.manifest import prepare_training_set  # noqa: E402
from bioims.learning.networks import NETWORKS  # noqa: E402
from bioims.learning.trainer import Trainer, _Minibatches  # noqa: E402
from bioims.store.localfs import LocalObjectStore  # noqa: E402

EMBEDDING = "bench"


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
            store.put_bytes(prefix + keys.SUFFIX_TRAIN,
                            _npy(rng.integers(0, 65535, (rois, channels, 1, size, size), dtype=np.uint16)))
            store.put_bytes(prefix + keys.SUFFIX_LABEL, _npy(np.full(rois, label, np.int32)))
            store.put_bytes(prefix + keys.SUFFIX_SUBCLASS, _npy(np.full(rois, label, np.int32)))
            rows.append({"imageId": image_id, "plateId": "plate", "wellId": f"w{label}-{well}",
                         "trainCategory": "moa", "trainLabel": f"moa{label}", "trainSubclass": f"cpd{label}"})
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roi-size", type=int, default=128)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--classes", type=int, default=13)
    parser.add_argument("--steps", type=int, default=5, help="training steps per timed run")
    parser.add_argument("--inference-rois", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = all usable cores)")
    args = parser.parse_args()
    rois_per_image = max(8, -(-args.inference_rois // (2 * args.classes)))
    with tempfile.TemporaryDirectory(prefix="bioims-bench-learning-") as tmp:
        root = Path(tmp) / "data"
        rows = write_random_set(root, classes=args.classes, channels=args.channels, size=args.roi_size,
                                rois=rois_per_image)
        manifest = prepare_training_set(LocalObjectStore(root), "bench", EMBEDDING, rows, validation_fraction=0.0)
        results = {name: measure(name, root, manifest, args) for name in NETWORKS}
    base = results["bbbc021-1"]
    print(f"ROIs {args.channels} x {args.roi_size} x {args.roi_size}, {args.classes} classes, "
          f"torch threads {args.threads or available_cores()}, CPU, median of {args.repeats}")
    print(f"{'network':<16}{'params':>12}{'ROIs/step':>11}{'train ROIs/s':>14}{'x':>7}{'infer ROIs/s':>14}{'x':>7}")
    for name, r in results.items():
        print(f"{name:<16}{r['params']:>12,}{r['rois_per_step']:>11}{r['train_rois_s']:>14.1f}"
              f"{r['train_rois_s'] / base['train_rois_s']:>7.2f}{r['infer_rois_s']:>14.1f}"
              f"{r['infer_rois_s'] / base['infer_rois_s']:>7.2f}")


if __name__ == "__main__":
    main()
