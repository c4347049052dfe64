"""Small ROI sets with a known class structure, written in the real ROI file layout.

Each ROI holds one centred cell whose size and texture depend on its class (see `cell_rois`).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np

from bioims import keys
from bioims.store.localfs import LocalObjectStore


@dataclass(frozen=True)
class RoiSetSpec:
    classes: int = 3
    compounds_per_class: int = 2
    wells_per_compound: int = 2
    images_per_well: int = 2
    rois_per_image: int = 4
    channels: int = 2
    size: int = 32
    unlabelled_images: int = 2
    seed: int = 0


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def cell_rois(rng: np.random.Generator, label: int, compound: int, spec: RoiSetSpec, count: int) -> np.ndarray:
    """uint16 (count, C, 1, R, R): one centred "cell" per ROI on a dark background.

    The class sets the cell's radius and the spatial frequency of its texture; the compound
    shifts both a little; brightness, exact position and noise vary per ROI at random, so mean
    intensity alone does not give the class away. Isotropic on purpose: flips and rotations (the
    stronger network's augmentation) keep the class, as they keep a real cell's phenotype.
    """
    size = spec.size
    step = label / max(spec.classes - 1, 1)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    centre = (size - 1) / 2 + rng.uniform(-2, 2, size=(count, 2, 1, 1))
    distance = np.hypot(yy - centre[:, :1], xx - centre[:, 1:])
    radius = size * (0.16 + 0.16 * step + 0.01 * compound)
    mask = 1 / (1 + np.exp((distance - radius) / 1.0))  # (count, 1, R, R), soft edge
    radial = np.hypot(np.fft.fftfreq(size)[:, None], np.fft.fftfreq(size)[None, :])
    band = np.exp(-0.5 * ((radial - (0.1 + 0.2 * step)) / 0.04) ** 2)
    noise = rng.normal(size=(count, spec.channels, size, size))
    texture = np.real(np.fft.ifft2(np.fft.fft2(noise) * band))
    texture /= texture.std(axis=(2, 3), keepdims=True) + 1e-12
    level = rng.uniform(0.35, 0.85, size=(count, spec.channels, 1, 1))
    cell = mask * (level + 0.12 * texture)
    image = 0.03 + cell + rng.normal(0, 0.03, size=cell.shape)
    return (np.clip(image, 0, 1) * 65535).astype(np.uint16)[:, :, None]


def write_image(
    store, embedding_name: str, plate: str, image_id: str, rois: np.ndarray, label: int | None, subclass: int
) -> str:
    prefix = keys.train_prefix(embedding_name, plate, image_id)
    n = rois.shape[0]
    store.put_bytes(prefix + keys.SUFFIX_TRAIN, npy_bytes(rois))
    if label is None:
        store.put_bytes(prefix + keys.SUFFIX_NO_LABEL, b"No label data")
    else:
        store.put_bytes(prefix + keys.SUFFIX_LABEL, npy_bytes(np.full(n, label, dtype=np.int32)))
    store.put_bytes(prefix + keys.SUFFIX_SUBCLASS, npy_bytes(np.full(n, subclass, dtype=np.int32)))
    store.put_bytes(prefix + keys.SUFFIX_ROI, json.dumps({"roi": []}).encode())
    return prefix


def write_roi_set(store: LocalObjectStore, embedding_name: str, spec: RoiSetSpec = RoiSetSpec()) -> list[dict]:
    """Write the ROI files of a synthetic set; returns the image origin rows (as image-management holds them)."""
    rng = np.random.default_rng(spec.seed)
    rows: list[dict] = []
    plates = ["plateA", "plateB"]
    serial = 0
    for label in range(spec.classes):
        for c in range(spec.compounds_per_class):
            compound = label * spec.compounds_per_class + c
            for w in range(spec.wells_per_compound):
                plate = plates[w % 2]
                well = f"well-{compound}-{w}"
                for _ in range(spec.images_per_well):
                    image_id = f"img{serial:04d}"
                    serial += 1
                    rois = cell_rois(rng, label, c, spec, spec.rois_per_image)
                    write_image(store, embedding_name, plate, image_id, rois, label, compound)
                    rows.append(
                        {
                            "imageId": image_id,
                            "trainId": "origin",
                            "plateId": plate,
                            "wellId": well,
                            "trainCategory": "moa",
                            "trainLabel": f"moa-{label}",
                            "trainSubclassType": "compound",
                            "trainSubclass": f"compound-{compound}",
                        }
                    )
    for u in range(spec.unlabelled_images):
        image_id = f"unl{u:04d}"
        rois = cell_rois(rng, 0, 0, spec, spec.rois_per_image)
        write_image(store, embedding_name, plates[0], image_id, rois, None, -1)
        rows.append({"imageId": image_id, "trainId": "origin", "plateId": plates[0], "wellId": f"dmso-{u}"})
    return rows


def make_training_set(
    root,
    spec: RoiSetSpec = RoiSetSpec(),
    *,
    embedding_name: str = "emb",
    train_id: str = "train1",
    validation_fraction: float = 0.5,
    seed: int = 0,
):
    """(store, rows, manifest): a written ROI set and its built, written training manifest."""
    from bioims.learning.manifest import prepare_training_set

    store = LocalObjectStore(root)
    rows = write_roi_set(store, embedding_name, spec)
    manifest = prepare_training_set(
        store, train_id, embedding_name, rows, validation_fraction=validation_fraction, seed=seed
    )
    return store, rows, manifest


# Small, fast settings shared by the training tests (1 thread: stable timing on a shared CPU).
FAST = {"threads": 1, "log_every": 1, "validation_max_rois": 64, "validation_groups": 8}
