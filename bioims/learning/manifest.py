"""The training build (docs/original.md §4.6): which ROI files a training uses, written as a manifest.

Training set = ROIs of images labelled in the training category (default "moa") minus the
training's exclusion list. Checked here, so that a bad set fails before a training job starts
(docs/original.md §8.4 #35): every image's ROI files exist, label and compound indices agree with
the image rows and with each other, the ROI geometry must be one and the same, empty images and
classes that cannot form a pair are left out, and a validation split of held-out wells is drawn
(seeded) so early stopping never looks at training loss.

Two outputs, both keyed by trainId (bioims.keys): the original's newline-separated prefix list,
and a JSON manifest with one entry per image (prefix, label, compound, plate, well, ROI count,
validation flag) plus counts and the ROI geometry.

`select_training_images` and `build_training_manifest` are pure; `inspect_images` reads file
headers; `write_training_manifest` / `read_training_manifest` do the object IO.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from bioims import ids, keys
from bioims.learning.roifiles import RoiFileInfo, inspect_roi_files
from bioims.store.ports import ObjectNotFound, ObjectStore

MANIFEST_VERSION = 1
MAX_LISTED_PROBLEMS = 20


class TrainingSetError(ValueError):
    """The training set is empty or inconsistent; the message lists what is wrong."""


@dataclass(frozen=True)
class ManifestImage:
    imageId: str
    plateId: str
    wellId: str
    prefix: str
    label: int
    labelName: str
    subclass: int
    subclassName: str
    rois: int
    validation: bool


@dataclass(frozen=True)
class ManifestClass:
    index: int
    name: str
    images: int
    rois: int
    validationRois: int
    compounds: list[str]


@dataclass
class TrainingManifest:
    trainId: str
    embeddingName: str
    category: str
    channels: int
    roiSize: int
    images: list[ManifestImage]
    classes: list[ManifestClass]
    counts: dict[str, int]
    validation: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    createTimestamp: str = ""
    version: int = MANIFEST_VERSION

    def training_images(self) -> list[ManifestImage]:
        return [image for image in self.images if not image.validation]

    def validation_images(self) -> list[ManifestImage]:
        return [image for image in self.images if image.validation]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @staticmethod
    def from_json(text: str | bytes) -> TrainingManifest:
        try:
            data = json.loads(text)
            if data.get("version") != MANIFEST_VERSION:
                raise TrainingSetError(f"unsupported training manifest version {data.get('version')!r}")
            data["images"] = [ManifestImage(**image) for image in data["images"]]
            data["classes"] = [ManifestClass(**cls) for cls in data["classes"]]
            return TrainingManifest(**data)
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise TrainingSetError(f"malformed training manifest: {exc}") from None


@dataclass(frozen=True)
class Selection:
    """Images of a training after the category and exclusion rules (original's counters)."""

    rows: list[dict]
    label_count: int
    filter_count: int
    unlabeled_count: int
    unknown_excluded: int


def parse_exclusion_list(text: str | bytes) -> set[str]:
    """The original's filter file: one imageId per line to EXCLUDE; blank lines ignored."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return {line.strip() for line in text.splitlines() if line.strip()}


def select_training_images(
    rows: Iterable[Mapping[str, Any]], exclude: Iterable[str] = (), *, category: str = "moa"
) -> Selection:
    """Image origin rows -> the rows labelled in `category` and not excluded (pure)."""
    excluded = set(exclude)
    chosen: list[dict] = []
    seen: set[str] = set()
    filtered = unlabeled = 0
    for row in rows:
        image_id = row.get("imageId")
        if not image_id or image_id in seen:
            continue
        seen.add(image_id)
        if image_id in excluded:
            filtered += 1
        elif row.get("trainCategory") == category and row.get("trainLabel"):
            chosen.append(dict(row))
        else:
            unlabeled += 1
    chosen.sort(key=_lab_order)
    return Selection(chosen, len(chosen), filtered, unlabeled, len(excluded - seen))


def _lab_order(row: Mapping[str, Any]) -> tuple[str, ...]:
    """Order images by their lab ids (plate, well, image names), which are the same in every
    installation, so a training set (order, validation split, sampling) does not depend on the
    random plate/image ids an upload happened to get; generated ids break remaining ties."""
    return (
        str(row.get("plateSourceId", "")),
        str(row.get("wellSourceId", "")),
        str(row.get("imageSourceId", "")),
        str(row.get("plateId")),
        str(row["imageId"]),
    )


def inspect_images(
    store: ObjectStore, embedding_name: str, rows: Sequence[Mapping[str, Any]], *, threads: int = 8
) -> dict[str, RoiFileInfo]:
    """Header-level check of every selected image's ROI files, keyed by imageId."""

    def one(row: Mapping[str, Any]) -> tuple[str, RoiFileInfo]:
        prefix = keys.train_prefix(embedding_name, str(row.get("plateId")), str(row["imageId"]))
        return str(row["imageId"]), inspect_roi_files(store, prefix)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        return dict(pool.map(one, rows))


def _raise_problems(problems: list[str], headline: str) -> None:
    if not problems:
        return
    shown = problems[:MAX_LISTED_PROBLEMS]
    more = f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
    raise TrainingSetError(f"{headline} ({len(problems)} problems):\n  " + "\n  ".join(shown) + more)


def _check_one_to_one(pairs: Iterable[tuple[int, str]], what: str, problems: list[str]) -> None:
    by_index: dict[int, set[str]] = defaultdict(set)
    by_name: dict[str, set[int]] = defaultdict(set)
    for index, name in pairs:
        by_index[index].add(name)
        by_name[name].add(index)
    for index, names in sorted(by_index.items()):
        if len(names) > 1:
            problems.append(f"{what} index {index} is used for several names: {sorted(names)}")
    for name, indices in sorted(by_name.items()):
        if len(indices) > 1:
            problems.append(f"{what} {name!r} has several indices in the ROI files: {sorted(indices)}")


def _split_wells(images: list[dict], fraction: float, seed: int) -> set[tuple[str, str]]:
    """Hold out whole wells per (class, compound) that has 2+ wells; at least one stays in training."""
    if fraction <= 0:
        return set()
    wells: dict[tuple[int, int], set[tuple[str, str]]] = defaultdict(set)
    lab_name: dict[tuple[str, str], tuple[str, ...]] = {}
    for image in images:
        well = (image["plateId"], image["wellId"])
        wells[(image["label"], image["subclass"])].add(well)
        lab_name[well] = (image.get("plateSource", ""), image.get("wellSource", ""), *well)
    held: set[tuple[str, str]] = set()
    for group in sorted(wells):
        candidates = sorted(wells[group] - held, key=lab_name.__getitem__)
        if len(candidates) < 2:
            continue
        count = min(len(candidates) - 1, max(1, int(round(fraction * len(candidates)))))
        rng = np.random.default_rng(np.random.SeedSequence([seed, group[0] + 1, group[1] + 1]))
        for position in rng.permutation(len(candidates))[:count]:
            held.add(candidates[position])
    return held


def build_training_manifest(
    train_id: str,
    embedding_name: str,
    rows: Iterable[Mapping[str, Any]],
    exclude: Iterable[str],
    roi_files: Mapping[str, RoiFileInfo],
    *,
    category: str = "moa",
    validation_fraction: float = 0.2,
    seed: int = 0,
    created: str | None = None,
) -> TrainingManifest:
    """Pure: image rows + exclusion list + ROI file facts -> manifest, or TrainingSetError."""
    if not 0 <= validation_fraction < 1:
        raise TrainingSetError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    rows = list(rows)
    if not rows:
        raise TrainingSetError(f"training {train_id}: no images on plates compatible with embedding {embedding_name!r}")
    selection = select_training_images(rows, exclude, category=category)
    if not selection.rows:
        raise TrainingSetError(
            f"training {train_id} is empty: of {len(rows)} images none is labelled in category "
            f"{category!r} ({selection.filter_count} excluded by the filter, "
            f"{selection.unlabeled_count} without a {category!r} label)"
        )
    problems: list[str] = []
    usable: list[dict] = []
    empty = 0
    for row in selection.rows:
        image_id = str(row["imageId"])
        info = roi_files.get(image_id)
        if info is None:
            problems.append(f"image {image_id}: its ROI files were not inspected")
            continue
        if info.problems:
            problems.extend(info.problems)
            continue
        if not row.get("plateId") or not row.get("wellId"):
            problems.append(f"image {image_id}: image row has no plateId/wellId")
            continue
        if not info.labelled:
            problems.append(
                f"image {image_id} is labelled {row['trainLabel']!r} but its ROI files say unlabelled; "
                f"re-run image processing for plate {row.get('plateId')}"
            )
            continue
        if info.rois == 0:
            empty += 1
            continue
        if info.depth != 1:
            problems.append(f"image {image_id}: ROI depth {info.depth}; the networks take 2-D ROIs (depth 1)")
            continue
        if info.label is None or info.label < 0 or info.subclass is None or info.subclass < 0:
            problems.append(f"image {image_id}: invalid label/subclass index {info.label}/{info.subclass}")
            continue
        usable.append(
            {
                "imageId": image_id,
                "plateId": str(row["plateId"]),
                "wellId": str(row["wellId"]),
                "plateSource": str(row.get("plateSourceId", "")),
                "wellSource": str(row.get("wellSourceId", "")),
                "prefix": info.prefix,
                "label": info.label,
                "labelName": str(row["trainLabel"]),
                "subclass": info.subclass,
                "subclassName": str(row.get("trainSubclass") or info.subclass),
                "rois": info.rois,
                "geometry": (info.channels, info.size),
            }
        )
    geometries: dict[tuple[int, int], list[str]] = defaultdict(list)
    for image in usable:
        geometries[image["geometry"]].append(image["imageId"])
    if len(geometries) > 1:
        listed = "; ".join(
            f"{c} channels x {s} px: {len(found)} images (e.g. {', '.join(found[:3])})"
            for (c, s), found in sorted(geometries.items())
        )
        problems.append(f"ROI geometry differs between images: {listed}")
    _check_one_to_one(((i["label"], i["labelName"]) for i in usable), "label", problems)
    _check_one_to_one(((i["subclass"], i["subclassName"]) for i in usable), "subclass", problems)
    _raise_problems(problems, f"training {train_id} has an inconsistent training set")
    if not usable:
        raise TrainingSetError(f"training {train_id} is empty: all {len(selection.rows)} labelled images have 0 ROIs")

    held = _split_wells(usable, validation_fraction, seed)
    notes: list[str] = []
    per_class: dict[int, dict[str, Any]] = {}
    for image in usable:
        image["validation"] = (image["plateId"], image["wellId"]) in held
        entry = per_class.setdefault(
            image["label"], {"name": image["labelName"], "images": 0, "rois": 0, "val": 0, "compounds": set()}
        )
        entry["images"] += 1
        entry["rois"] += 0 if image["validation"] else image["rois"]
        entry["val"] += image["rois"] if image["validation"] else 0
        entry["compounds"].add(image["subclassName"])
    classes = [
        ManifestClass(index, e["name"], e["images"], e["rois"], e["val"], sorted(e["compounds"]))
        for index, e in sorted(per_class.items())
    ]
    trainable = [c for c in classes if c.rois >= 2]
    for cls in classes:
        if cls.rois < 2:
            notes.append(f"class {cls.index} ({cls.name}) has {cls.rois} training ROIs and is not sampled")
    if len(trainable) < 2:
        raise TrainingSetError(
            f"training {train_id}: the N-pair loss needs at least 2 classes with 2 or more training ROIs, "
            f"found {len(trainable)} ({', '.join(f'{c.name}: {c.rois}' for c in classes)})"
        )
    if validation_fraction > 0 and not held:
        notes.append("no compound has two or more wells: no validation split, so no early stopping")
    images = [
        ManifestImage(**{k: v for k, v in image.items() if k not in ("geometry", "plateSource", "wellSource")})
        for image in usable
    ]
    channels, size = usable[0]["geometry"]
    val_images = [i for i in images if i.validation]
    return TrainingManifest(
        trainId=train_id,
        embeddingName=embedding_name,
        category=category,
        channels=channels,
        roiSize=size,
        images=images,
        classes=classes,
        counts={
            "labelCount": selection.label_count,
            "filterCount": selection.filter_count,
            "unlabeledCount": selection.unlabeled_count,
            "unknownExcluded": selection.unknown_excluded,
            "emptyCount": empty,
            "images": len(images),
            "rois": sum(i.rois for i in images),
            "trainingRois": sum(i.rois for i in images if not i.validation),
        },
        validation={
            "fraction": validation_fraction,
            "seed": seed,
            "wells": len(held),
            "images": len(val_images),
            "rois": sum(i.rois for i in val_images),
        },
        notes=notes,
        createTimestamp=created or ids.now_ms(),
    )


def prefix_list_text(manifest: TrainingManifest) -> str:
    """The original's image prefix list: newline-joined prefixes with a trailing newline."""
    return "".join(image.prefix + "\n" for image in manifest.images)


def write_training_manifest(store: ObjectStore, manifest: TrainingManifest) -> dict[str, str]:
    """Write the manifest and the prefix list (each atomically); returns their keys."""
    manifest_key = keys.training_manifest_key(manifest.trainId)
    list_key = keys.image_list_key(manifest.trainId)
    store.put_bytes(manifest_key, manifest.to_json().encode(), content_type="application/json")
    store.put_bytes(list_key, prefix_list_text(manifest).encode(), content_type="text/plain")
    return {"manifestKey": manifest_key, "imageListKey": list_key}


def read_training_manifest(store: ObjectStore, train_id: str) -> TrainingManifest:
    key = keys.training_manifest_key(train_id)
    try:
        return TrainingManifest.from_json(store.get_bytes(key))
    except ObjectNotFound:
        raise TrainingSetError(f"training {train_id} has no manifest at {key}; run the training build") from None


def prepare_training_set(
    store: ObjectStore,
    train_id: str,
    embedding_name: str,
    rows: Iterable[Mapping[str, Any]],
    exclude: Iterable[str] = (),
    *,
    category: str = "moa",
    validation_fraction: float = 0.2,
    seed: int = 0,
) -> TrainingManifest:
    """Select, inspect, build and write a training set; nothing is written when it fails."""
    rows = list(rows)
    exclude = set(exclude)
    selection = select_training_images(rows, exclude, category=category)
    roi_files = inspect_images(store, embedding_name, selection.rows)
    manifest = build_training_manifest(
        train_id,
        embedding_name,
        rows,
        exclude,
        roi_files,
        category=category,
        validation_fraction=validation_fraction,
        seed=seed,
    )
    write_training_manifest(store, manifest)
    return manifest
