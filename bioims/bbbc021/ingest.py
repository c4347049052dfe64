"""Ingest a local BBBC021 copy (downloaded or synthetic) through the services.

Order of work, every step idempotent so a re-run after a crash completes what is missing:
1. read and check the CSVs at DIR's root (the design); choose the plates (given, or every plate of
   the image CSV whose directory exists);
2. check each plate's files before anything of that plate is written: every TIFF the CSV lists is
   there, is a complete TIFF (its pixel data lies inside the file) and all share one geometry;
   a plate that fails is reported and nothing of it is uploaded;
3. label categories `moa` and `compound` and their labels (labels.py); tags (tags.py);
4. per plate: the source-plate manifest (manifest.py) goes to the resource bucket and
   process-plate `uploadSourcePlate` creates the plate's rows and runs the upload workflow
   (inspection, validation, thumbnails); a plate uploaded before is not duplicated (the service
   answers 409 with its plateId); then each image gets its tags;
5. the per-compound training exclusion lists over every BBBC021 plate in the system
   (filters.py), written to the resource bucket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import tifffile

from bioims import client, keys
from bioims import context as context_module
from bioims.bbbc021 import csvs, filters, labels, layout, manifest, tags
from bioims.bbbc021.design import Design, load_design_from_dir
from bioims.clients.base import ClientError, ServiceClient
from bioims.clients.data import ImageManagementClient
from bioims.imaging.tiff import baseline_tiff_layout
from bioims.store.ports import ObjectStore

DEFAULT_EMBEDDING = "bbbc021"


class IngestError(RuntimeError):
    """Ingestion could not complete; the message lists what failed (finished plates are kept)."""


class IngestProgress(Protocol):
    def stage(self, name: str, total: int | None = None) -> None: ...

    def advance(self, name: str, n: int = 1) -> None: ...

    def note(self, message: str) -> None: ...


class _Quiet:
    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, name: str, n: int = 1) -> None:
        pass

    def note(self, message: str) -> None:
        pass


@dataclass
class PlateOutcome:
    plate: str
    status: str  # uploaded | resumed | already uploaded | failed
    plate_id: str = ""
    images: int = 0
    workflow: str = ""  # upload workflow status (SUCCEEDED, FAILED, RUNNING on AWS)
    error: str = ""


@dataclass
class IngestReport:
    root: Path
    mode: str
    plates: list[PlateOutcome] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)  # plates of the CSV without a directory
    label_indices: dict[str, dict[str, int]] = field(default_factory=dict)
    tags: int = 0
    filters: dict[str, str] = field(default_factory=dict)  # compound label -> resource key
    filter_images: int = 0

    @property
    def failed(self) -> list[PlateOutcome]:
        return [p for p in self.plates if p.status == "failed"]

    def summary(self) -> dict:
        return {
            "root": str(self.root),
            "labelMode": self.mode,
            "plates": [vars(p) for p in self.plates],
            "absentPlates": self.absent,
            "labelCategories": {c: len(v) for c, v in self.label_indices.items()},
            "tags": self.tags,
            "filterLists": len(self.filters),
            "filteredImages": self.filter_images,
        }


# --- checks ------------------------------------------------------------------------------------
def check_tiff(path: Path) -> tuple[tuple[int, ...], str]:
    """(shape, dtype) of a single-image TIFF whose pixel data lies wholly inside the file;
    Bbbc021DataError naming the file otherwise (missing, not a TIFF, truncated)."""
    if not path.is_file():
        raise csvs.Bbbc021DataError(f"missing file {path}")
    layout = baseline_tiff_layout(path)  # the common case, from the header alone (strips checked)
    if layout is not None:
        return (layout.height, layout.width), str(layout.dtype.newbyteorder("="))
    size = path.stat().st_size
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            shape, dtype = tuple(page.shape), str(page.dtype)
            ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts, strict=True)]
            expected = int(np.prod(shape)) * page.dtype.itemsize if page.compression == 1 else None  # type: ignore[union-attr]
    except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError) as exc:
        raise csvs.Bbbc021DataError(f"{path} is not a readable TIFF: {exc}") from exc
    if not ends or max(ends) > size:
        raise csvs.Bbbc021DataError(
            f"{path} is truncated: its image data ends at byte {max(ends, default=0)}, the file has {size}"
        )
    if expected is not None and sum(page.databytecounts) < expected:
        raise csvs.Bbbc021DataError(f"{path} holds fewer pixel bytes than its {shape} {dtype} image needs")
    return shape, dtype


Checked = tuple[tuple[int, ...], str] | str  # (shape, dtype), or why the file is not a usable TIFF


def plate_files(root: Path, design: Design, plate: str) -> list[Path]:
    """Every TIFF the CSV lists for a plate, field by field, channels in layout order."""
    rows = design.plate_fields(plate)
    return [root / plate / getattr(row, f"file_{c}") for row in rows.itertuples(index=False) for c in layout.CHANNELS]


def check_files(ctx: Any, paths: list[Path]) -> list[Checked]:
    """check_tiff of every path, in order (a part of the checks: runs in a worker process)."""
    checked: list[Checked] = []
    for path in paths:
        try:
            checked.append(check_tiff(path))
        except csvs.Bbbc021DataError as exc:
            checked.append(str(exc))
    return checked


def check_plate_files(
    root: Path, design: Design, plate: str, checked: dict[Path, Checked] | None = None
) -> tuple[int, int]:
    """Check every listed TIFF of a plate (`checked`: the files' check_tiff results, made
    beforehand); returns its (height, width). Bbbc021DataError lists up to five problems."""
    paths = plate_files(root, design, plate)
    if checked is None:
        checked = dict(zip(paths, check_files(None, paths), strict=True))
    problems: list[str] = []
    geometries: dict[tuple, int] = {}
    for path in paths:
        result = checked[path]
        if isinstance(result, str):
            problems.append(result)
            continue
        shape, dtype = result
        if len(shape) != 2:
            problems.append(f"{path} is not a single 2-D image (shape {shape})")
            continue
        geometries[(shape, dtype)] = geometries.get((shape, dtype), 0) + 1
    if len(geometries) > 1:
        listed = ", ".join(f"{s[0]} {s[1]} ({n} files)" for s, n in sorted(geometries.items(), key=lambda kv: -kv[1]))
        problems.append(f"plate {plate}: files differ in shape or type: {listed}")
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise csvs.Bbbc021DataError(f"plate {plate}: " + "; ".join(problems[:5]) + more)
    (shape, _dtype), _count = next(iter(geometries.items()))
    return int(shape[0]), int(shape[1])


def check_design(design: Design) -> None:
    """Compound names must be unambiguous: two different names in the CSVs that differ only in
    case, spacing or '/' (e.g. "Taxol" in the image CSV, "taxol" in the MOA CSV) would be an
    unknown compound to the MOA table and share one compound label; Bbbc021DataError names them."""
    names = set(design.fields["compound"]) | set(design.moa_table["compound"])
    by_label: dict[str, str] = {}
    for name in sorted(names):
        label = keys.normalize_label(name).casefold()
        if label in by_label:
            other = by_label[label]
            annotated = [n for n in (other, name) if n in set(design.moa_table["compound"])]
            hint = f" (the MOA CSV knows {annotated[0]!r})" if len(annotated) == 1 else ""
            raise csvs.Bbbc021DataError(
                f"compounds {other!r} and {name!r} differ only in case, spacing or '/'{hint}; "
                "one of them is an unknown compound: fix the CSV"
            )
        by_label[label] = name


# --- ingest ------------------------------------------------------------------------------------
def choose_plates(root: Path, design: Design, plates: Iterable[str] | None) -> tuple[list[str], list[str]]:
    """(plates to ingest, plates of the CSV without a directory)."""
    if plates is not None:
        wanted = list(dict.fromkeys(plates))
        unknown = [p for p in wanted if p not in set(design.plates)]
        if unknown:
            raise IngestError(f"plate(s) not in {root / layout.IMAGE_CSV}: {', '.join(unknown)}")
        return wanted, []
    present = [p for p in design.plates if (root / p).is_dir()]
    absent = [p for p in design.plates if not (root / p).is_dir()]
    if not present:
        raise IngestError(f"{root} holds none of the {len(design.plates)} plate directories its image CSV lists")
    return present, absent


def ingest(
    root: Path | str,
    plates: Iterable[str] | None = None,
    *,
    mode: str = "standard",
    embedding: str = DEFAULT_EMBEDDING,
    source_bucket: str | None = None,
    source_key: str = "",
    context=None,
    progress: IngestProgress | None = None,
    wait: bool = True,
) -> IngestReport:
    """Ingest the BBBC021 copy at `root` (see the module docstring). `source_bucket`/`source_key`
    say where the services read the TIFFs (default: the directory itself; on AWS, a bucket holding
    the same layout). Raises IngestError after the other plates are done if any plate failed."""
    mode = labels.check_mode(mode)
    progress = progress or _Quiet()
    root = Path(root).resolve()
    if not root.is_dir():
        raise IngestError(f"{root} is not a directory")
    try:
        design = load_design_from_dir(root)
        check_design(design)
    except csvs.Bbbc021DataError as exc:
        raise IngestError(str(exc)) from exc
    ctx = context or context_module.get()
    if source_bucket is None:
        if ctx.settings.backend != "local":
            raise IngestError(
                "on the aws backend the services cannot read a local directory: copy it to S3 "
                "(same layout) and pass the bucket (and prefix) as the source"
            )
        source_bucket = str(root)
    wanted, absent = choose_plates(root, design, plates)
    report = IngestReport(root, mode, absent=absent)

    # 1. check the plates' files before writing anything
    progress.stage("check files", len(wanted))
    # every plate's file headers read at once, spread over the runtime's processes (~0.5 ms a file)
    paths = [path for plate in wanted for path in plate_files(root, design, plate)]
    checked = dict(zip(paths, chain.from_iterable(ctx.runtime.map_parts(check_files, paths)), strict=True))
    good: list[str] = []
    for plate in wanted:
        try:
            check_plate_files(root, design, plate, checked)
            good.append(plate)
        except csvs.Bbbc021DataError as exc:
            report.plates.append(PlateOutcome(plate, "failed", error=str(exc)))
        progress.advance("check files")

    if good:
        # 2. labels and tags
        label_client, tag_client = client("label", ctx), client("tag", ctx)
        descriptions = labels.category_descriptions()
        for category, names in labels.label_categories(design).items():
            label_client.createCategory(category, descriptions[category])
            report.label_indices[category] = {n: int(label_client.createLabel(category, n)["index"]) for n in names}
        # Tags of the whole CSV, not only of these plates: ids then do not depend on which plates
        # come first (with the published CSV and an empty table, MOA tags get the original's 1-13).
        values = tags.all_tags(design.fields, mode)
        tag_ids = {t["tagValue"]: int(t["id"]) for t in tag_client.createTags(values)}
        report.tags = len(tag_ids)

        # 3. plates
        upload = _PlateUpload(
            design,
            mode,
            source_bucket,
            source_key,
            tag_ids,
            ctx.stores.resource_bucket,
            client("image-management", ctx),
            client("process-plate", ctx),
            wait,
        )
        progress.stage("upload plates", len(good))
        for plate in good:
            report.plates.append(upload.plate(plate))
            progress.advance("upload plates")

    # 4. filter lists over every BBBC021 plate in the system
    progress.stage("filter lists")
    report.filters, report.filter_images = write_filters(design, embedding, ctx)
    report.plates.sort(key=lambda p: wanted.index(p.plate))
    if report.failed:
        raise IngestError(
            f"{len(report.failed)} of {len(wanted)} plate(s) not ingested (nothing of them was written; "
            "fix and re-run):\n  " + "\n  ".join(f"{p.plate}: {p.error}" for p in report.failed),
        ) from None
    return report


@dataclass(frozen=True)
class _PlateUpload:
    """What every plate of one ingest run is uploaded with: the design, where the services read
    the TIFFs, the tag ids, the resource bucket for the manifests and the two clients."""

    design: Design
    mode: labels.LabelMode
    source_bucket: str
    source_key: str
    tag_ids: dict[str, int]
    resources: ObjectStore
    images_client: ImageManagementClient
    process_client: ServiceClient
    wait: bool

    def plate(self, plate: str) -> PlateOutcome:
        """Manifest -> uploadSourcePlate -> tags, for one checked plate."""
        document = manifest.plate_manifest(
            self.design, plate, self.source_bucket, source_key=self.source_key, mode=self.mode
        )
        _add_metadata(document, self.design, plate)
        text = manifest.manifest_json(document).encode()
        key = keys.source_plate_manifest_key(plate, hashlib.sha256(text).hexdigest()[:16])
        self.resources.put_bytes(key, text, content_type="application/json")
        try:
            try:
                result = self.process_client.call(
                    "uploadSourcePlate", inputBucket=self.resources.bucket, inputKey=key, wait=self.wait
                )
                status = "resumed" if result.get("resumed") else "uploaded"
                plate_id = result["plateId"]
            except ClientError as exc:
                if (
                    exc.status != 409
                    or not isinstance(exc.body, dict)
                    or not exc.body.get("plateId")
                    or exc.body.get("differentContent")
                ):
                    return PlateOutcome(plate, "failed", error=str(exc))
                result, status, plate_id = {}, "already uploaded", exc.body["plateId"]
            rows = self.images_client.getImagesByPlateId(plate_id)
            by_source = dict(
                zip(
                    self.design.plate_fields(plate)["image_source_id"],
                    tags.field_tags(self.design.plate_fields(plate), self.mode),
                    strict=True,
                )
            )
            items = [
                {"imageId": row["imageId"], "tagList": sorted(self.tag_ids[t] for t in by_source[row["imageSourceId"]])}
                for row in rows
                if row.get("imageSourceId") in by_source
            ]
            if items:
                self.images_client.call("updateImageTagsBatch", items=items)
            return PlateOutcome(plate, status, plate_id, len(rows), result.get("status", ""))
        finally:
            self.resources.delete(key)  # the manifest is transient, as in the original


def _add_metadata(document: dict, design: Design, plate: str) -> None:
    """Treatment facts per image (our addition to the manifest format): compound, concentration,
    batch (week), site, replicate, control (0/1); evaluation reads them as Metadata_ columns."""
    rows = design.plate_fields(plate)
    by_source = {r.image_source_id: r for r in rows.itertuples(index=False)}
    for image in document["images"]:
        row = by_source[image["imageSourceId"]]
        image["metadata"] = {
            "compound": row.compound,
            "concentration": float(row.concentration),
            "batch": row.week,
            "site": int(row.site),
            "replicate": int(row.replicate),
            "control": int(bool(row.control)),
        }


def write_filters(design: Design, embedding: str, ctx) -> tuple[dict[str, str], int]:
    """Write the exclusion list of every annotated compound over all BBBC021 images the system
    holds (every plate whose images carry the BBBC021 experiment); returns (label -> key, count)."""
    images_client = client("image-management", ctx)
    images: list[tuple[str, str]] = []
    for plate in images_client.listPlates():
        for row in images_client.getImagesByPlateId(plate["plateId"]):
            if row.get("experiment") == layout.EXPERIMENT and row.get("trainSubclass"):
                images.append((row["imageId"], row["trainSubclass"]))
    lists = filters.train_filters(design, images)
    destinations = filters.filter_keys(design, embedding)
    resources = ctx.stores.resource_bucket
    for label, image_ids in lists.items():
        resources.put_bytes(destinations[label], filters.filter_text(image_ids).encode(), content_type="text/plain")
    return destinations, sum(len(v) for v in lists.values())


__all__ = [
    "DEFAULT_EMBEDDING",
    "IngestError",
    "IngestReport",
    "PlateOutcome",
    "check_design",
    "check_files",
    "check_plate_files",
    "check_tiff",
    "ingest",
    "plate_files",
    "write_filters",
]
