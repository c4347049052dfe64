"""Image-management service (docs/original.md §2.6, §3.1): plates, wells, images and per-training rows.

Rows in BioimsImageManagement:
  plate row     {imageId: "plate#<plateId>", trainId: "origin", plateList: "plate", plateSourceId,
                 messageId, imageCount, wellCount, searchReady, width/height/depth/channels,
                 plateDims (only when VALIDATED: the plateDimsIndex key)}
  upload marker {imageId: "platesource#<plateSourceId>", trainId: "origin", targetPlateId, status}
  image row     {imageId, trainId: "origin", plateId, wellId, plateSourceId, wellSourceId,
                 imageSourceId, bucket, key, channelKeys, trainCategory/trainLabel/
                 trainSubclassType/trainSubclass, experiment, metadata, messageId, searchReady,
                 width/height/depth/channels, tagArr}
  training row  {imageId, trainId, trainPlateId: "<trainId>#<plateId>", plateId-free, embedding
                 (base64 float32), roiEmbeddingKey, roiCount}

Compatible plates and per-training rows are index queries (no scan, no N+1),
uploads are idempotent (ids derive from the plate and lab ids; a re-run completes a crashed upload;
a second upload of a finished plate is a 409 naming the existing plateId), one bad image no longer
disqualifies a plate, dimensions are numbers, every missing parameter is a 400 (the original's
defects: docs/original.md §8.2 #12, §8.3 #20-22).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Annotated, Any

from pydantic import Field, StrictFloat, StrictInt, StrictStr, ValidationError

from bioims import faults, tables
from bioims.errors import BadRequest, Conflict, NotFound
from bioims.ids import derived_id, new_id, now_ms
from bioims.services.api import Request, Service, api
from bioims.services.models import Dimension, Flag, Id, Name, NumericInt, Text
from bioims.services.source_plate import SourcePlateManifest
from bioims.services.wire import get_item, listed, mapped_list, scalar
from bioims.store import Condition, ConditionFailed, ObjectNotFound, Update
from bioims.vectors import decode_vector, encode_vector

ORIGIN = tables.ORIGIN
PLATE_PREFIX = "plate#"
SOURCE_PREFIX = "platesource#"

UNDEFINED, PREVALIDATION, VALIDATED, ERROR, READY = "UNDEFINED", "PREVALIDATION", "VALIDATED", "ERROR", "READY"
STATUSES = (UNDEFINED, PREVALIDATION, VALIDATED, ERROR, READY)
UPLOAD_FINISHED = "SUCCEEDED"  # plate row `uploadStatus` once the upload workflow reached its end


def dims_key(width: int, height: int, depth: int, channels: int) -> str:
    return f"{width}x{height}x{depth}x{channels}"


def derived_message_id(*parts: str) -> str:
    return str(uuid.UUID(derived_id(*parts).encode().hex()[:32]))


def _check_same_content(manifest: SourcePlateManifest, marker: dict, plate_id: str, fingerprint: str) -> None:
    """A second upload under a known plateSourceId must describe the same plate: another copy
    (other source locations, checksums or labels) is a 409, never silently ignored."""
    stored = marker.get("manifestSha256")
    if stored is None or stored == fingerprint:
        return  # the same manifest (or a plate uploaded before fingerprints were kept)
    sources = sorted({image.sourceBucket for image in manifest.images})
    raise Conflict(
        f"plate {manifest.plateSourceId!r} is already stored as plateId {plate_id} from a manifest with different "
        f"content (manifest sha256 {stored[:16]}..., this one {fingerprint[:16]}...; this one reads from "
        f"{', '.join(sources[:3])}): the stored plate is kept and keeps its images. To replace it, upload the "
        "new copy under another plateSourceId (plate name), or ingest into a fresh BIOIMS_HOME "
        "(a new deployment on AWS)",
        details={"plateId": plate_id, "differentContent": True},
    )


# --- request models ------------------------------------------------------------------------------
class PopulateRequest(Request):
    inputBucket: Name
    inputKey: Text


class PlateRequest(Request):
    plateId: Id


class ImageRequest(Request):
    imageId: Id


class ImageTrainRequest(Request):
    imageId: Id
    trainId: Id


class PlateTrainRequest(Request):
    plateId: Id
    trainId: Id


class PlateWellRequest(Request):
    plateId: Id
    wellId: Id


class InspectionResult(Request):
    imageId: Id
    valid: Flag
    width: NumericInt = -1
    height: NumericInt = -1
    depth: NumericInt = -1
    channels: NumericInt = -1
    dtype: Name | None = None
    error: Text | None = None


class InspectionRequest(Request):
    inspectionResult: InspectionResult


Vector = Annotated[list[StrictFloat | StrictInt], Field(min_length=1, max_length=65_536)]


class TrainResult(Request):
    imageId: Id
    embeddingVector: Vector | Annotated[StrictStr, Field(min_length=4, max_length=400_000)]
    roiEmbeddingKey: Text = ""
    roiCount: Annotated[StrictInt, Field(ge=0)] = 0


class CreateTrainResultRequest(TrainResult):
    trainId: Id


class CreateTrainResultsRequest(Request):
    trainId: Id
    plateId: Id
    results: Annotated[list[TrainResult], Field(min_length=1, max_length=100_000)]


class DimsRequest(Request):
    width: Dimension
    height: Dimension
    depth: Dimension
    channels: Dimension


TagIds = Annotated[list[Annotated[NumericInt, Field(ge=1)]], Field(max_length=10_000)]


class UpdateTagsRequest(Request):
    imageId: Id
    tagList: TagIds


class ImageTags(Request):
    imageId: Id
    tagList: TagIds


class UpdateTagsBatchRequest(Request):
    items: Annotated[list[ImageTags], Field(min_length=1, max_length=100_000)]


# The original answered lists of GetItem outputs: [{"Item": row}, ...].
ITEMS_WIRE = mapped_list(
    "images", lambda row: {"Item": row}, lambda entry: entry["Item"], keep=("plateId", "trainId", "wellId")
)


class ImageManagementService(Service):
    name = "image-management"

    @property
    def _table(self):
        return self.table(tables.IMAGE_MANAGEMENT)

    # --- python API ------------------------------------------------------------------------------
    def plate(self, plate_id: str) -> dict:
        row = self._table.get({"imageId": PLATE_PREFIX + plate_id, "trainId": ORIGIN})
        if row is None:
            raise NotFound(f"plate {plate_id!r} does not exist")
        return row

    def image(self, image_id: str) -> dict:
        if image_id.startswith(PLATE_PREFIX) or image_id.startswith(SOURCE_PREFIX):
            raise BadRequest(f"{image_id!r} is not an image id")
        row = self._table.get({"imageId": image_id, "trainId": ORIGIN})
        if row is None:
            raise NotFound(f"image {image_id!r} does not exist")
        return row

    def plate_images(self, plate_id: str) -> list[dict]:
        self.plate(plate_id)
        return list(self._table.query_all(plate_id, index="plateIdIndex"))

    def plate_train_rows(self, plate_id: str, train_id: str) -> list[dict]:
        return list(self._table.query_all(f"{train_id}#{plate_id}", index="trainPlateIndex"))

    def plates(self) -> list[dict]:
        return list(self._table.query_all("plate", index="plateListIndex"))

    def compatible_plates(self, width: int, height: int, depth: int, channels: int) -> list[dict]:
        rows = self._table.query_all(dims_key(width, height, depth, channels), index="plateDimsIndex")
        return [
            {"plateId": r["imageId"][len(PLATE_PREFIX) :], "plateSourceId": r.get("plateSourceId", "")} for r in rows
        ]

    def plates_for_embedding(self, embedding: dict) -> list[dict]:
        """The plates whose images fit an embedding's input geometry (width, height, depth, channels)."""
        return self.compatible_plates(
            int(embedding["inputWidth"]),
            int(embedding["inputHeight"]),
            int(embedding.get("inputDepth", 1)),
            int(embedding["inputChannels"]),
        )

    def populate(self, manifest: SourcePlateManifest) -> dict:
        """Create the plate, well and image rows of a manifest; idempotent per plateSourceId."""
        manifest.check_consistency()
        messages = self.ctx.message
        marker_key = {"imageId": SOURCE_PREFIX + manifest.plateSourceId, "trainId": ORIGIN}
        candidate = new_id()
        fingerprint = manifest.fingerprint()
        try:
            self._table.put(
                {
                    **marker_key,
                    "targetPlateId": candidate,
                    "status": "uploading",
                    "createTimestamp": now_ms(),
                    "manifestSha256": fingerprint,
                },
                condition=Condition.not_exists(),
            )
            plate_id = candidate
        except ConditionFailed:
            marker = self._table.get(marker_key) or {}
            plate_id = marker.get("targetPlateId", "")
            _check_same_content(manifest, marker, plate_id, fingerprint)
            if marker.get("status") == "complete":
                raise Conflict(
                    f"plate {manifest.plateSourceId!r} was already uploaded as plateId {plate_id}",
                    details={"plateId": plate_id},
                ) from None
        stamp = now_ms()
        plate_message = derived_message_id(plate_id, "plate")
        well_ids = {w: derived_id(plate_id, "well", w) for w in sorted({i.wellSourceId for i in manifest.images})}
        image_ids = [derived_id(plate_id, "image", i.imageSourceId) for i in manifest.images]
        message_ids = [derived_message_id(plate_id, "image", i.imageSourceId) for i in manifest.images]
        messages.write_logs(
            [plate_message] + message_ids,
            [f"Message START for plateId {plate_id}"] + [f"Creation of imageId={i}" for i in image_ids],
        )
        rows = []
        for image, image_id, message_id in zip(manifest.images, image_ids, message_ids, strict=True):
            row: dict[str, Any] = {
                "imageId": image_id,
                "trainId": ORIGIN,
                "plateId": plate_id,
                "wellId": well_ids[image.wellSourceId],
                "plateSourceId": manifest.plateSourceId,
                "wellSourceId": image.wellSourceId,
                "imageSourceId": image.imageSourceId,
                "bucket": image.sourceBucket,
                "key": image.sourceKey,
                "createTimestamp": stamp,
                "messageId": message_id,
                "searchReady": UNDEFINED,
            }
            if image.channelKeys:
                row["channelKeys"] = [c.model_dump() for c in image.channelKeys]
            optional = {
                "trainCategory": image.category,
                "trainLabel": image.label,
                "trainSubclassType": image.subclassType,
                "trainSubclass": image.subclass,
                "experiment": image.experiment,
                "metadata": image.metadata,
            }
            row.update({k: v for k, v in optional.items() if v is not None})
            rows.append(row)
        self._table.batch_write(puts=rows)
        faults.point("plate-rows-written")
        self._table.put(
            {
                "imageId": PLATE_PREFIX + plate_id,
                "trainId": ORIGIN,
                "plateList": "plate",
                "plateSourceId": manifest.plateSourceId,
                "messageId": plate_message,
                "imageCount": len(rows),
                "wellCount": len(well_ids),
                "searchReady": UNDEFINED,
                "createTimestamp": stamp,
            }
        )
        self._table.update(marker_key, Update(set={"status": "complete", "manifestSha256": fingerprint}))
        return {
            "plateId": plate_id,
            "plateSourceId": manifest.plateSourceId,
            "imageCount": len(rows),
            "wellCount": len(well_ids),
        }

    def finish_upload(self, plate_id: str) -> dict:
        """Record that the plate's upload workflow ran to its end: only now is the upload complete
        (a re-upload of a plate without this mark resumes the workflow instead of answering 409)."""
        self.plate(plate_id)
        stamp = now_ms()
        self._table.update(
            {"imageId": PLATE_PREFIX + plate_id, "trainId": ORIGIN},
            Update(set={"uploadStatus": UPLOAD_FINISHED, "uploadFinished": stamp}),
        )
        return {"plateId": plate_id, "uploadStatus": UPLOAD_FINISHED}

    def validate(self, plate_id: str) -> dict:
        plate = self.plate(plate_id)
        images = self.plate_images(plate_id)
        counts = Counter(img.get("searchReady", UNDEFINED) for img in images)
        valid = [img for img in images if img.get("searchReady") in (VALIDATED, READY)]
        reason = ""
        geometry = (0, 0, 0, 0)
        if counts[UNDEFINED] or counts[PREVALIDATION] or not images:
            status = UNDEFINED if (counts[UNDEFINED] or not images) else PREVALIDATION
            reason = (
                f"{counts[UNDEFINED] + counts[PREVALIDATION]} images not inspected yet"
                if images
                else "plate has no images"
            )
        elif not valid:
            status, reason = ERROR, "no image of the plate is readable"
        else:
            shapes = Counter((int(i["width"]), int(i["height"]), int(i["depth"]), int(i["channels"])) for i in valid)
            if len(shapes) > 1:
                status = ERROR
                reason = "images have different dimensions: " + ", ".join(
                    f"{dims_key(*s)} ({n})" for s, n in shapes.most_common()
                )
            else:
                status = VALIDATED
                geometry = next(iter(shapes))
                if counts[ERROR]:
                    reason = f"{counts[ERROR]} unreadable images are excluded"
        update = {
            "searchReady": status,
            "width": geometry[0],
            "height": geometry[1],
            "depth": geometry[2],
            "channels": geometry[3],
            "validationMessage": reason,
            "validImageCount": len(valid),
            "errorImageCount": counts[ERROR],
        }
        if status == VALIDATED:
            update["plateDims"] = dims_key(*geometry)
            self._table.update({"imageId": PLATE_PREFIX + plate_id, "trainId": ORIGIN}, Update(set=update))
        else:
            self._table.update(
                {"imageId": PLATE_PREFIX + plate_id, "trainId": ORIGIN}, Update(set=update, remove=("plateDims",))
            )
        return {
            "plateId": plate_id,
            "plateSourceId": plate.get("plateSourceId", ""),
            "status": status,
            **{
                k: update[k]
                for k in (
                    "width",
                    "height",
                    "depth",
                    "channels",
                    "validationMessage",
                    "validImageCount",
                    "errorImageCount",
                )
            },
        }

    def write_train_results(self, train_id: str, plate_id: str, results: list[TrainResult]) -> int:
        images = {img["imageId"] for img in self.plate_images(plate_id)}
        unknown = [r.imageId for r in results if r.imageId not in images]
        if unknown:
            raise NotFound(f"images {unknown[:5]} are not on plate {plate_id!r}")
        self.ctx.training_configuration.training(train_id)
        stamp = now_ms()
        rows = []
        for result in results:
            vector = result.embeddingVector
            try:
                encoded = encode_vector(vector) if isinstance(vector, list) else encode_vector(decode_vector(vector))
            except ValueError as exc:
                raise BadRequest(f"image {result.imageId}: {exc}") from None
            rows.append(
                {
                    "imageId": result.imageId,
                    "trainId": train_id,
                    "trainPlateId": f"{train_id}#{plate_id}",
                    "embedding": encoded,
                    "roiEmbeddingKey": result.roiEmbeddingKey,
                    "roiCount": result.roiCount,
                    "createTimestamp": stamp,
                }
            )
        self._table.batch_write(puts=rows)
        return len(rows)

    # --- API -----------------------------------------------------------------------------------
    @api(PopulateRequest, status=201)
    def populateSourcePlate(self, request: PopulateRequest) -> dict:
        """Create plate, well and image rows from a source-plate manifest stored in a bucket."""
        try:
            raw = self.ctx.stores.bucket(request.inputBucket).get_bytes(request.inputKey)
        except ObjectNotFound:
            raise NotFound(f"manifest {request.inputKey!r} not found in bucket {request.inputBucket!r}") from None
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(f"manifest {request.inputKey!r} is not valid JSON: {exc}") from None
        try:
            manifest = SourcePlateManifest.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10])
            raise BadRequest(f"manifest {request.inputKey!r} is invalid: {problems}") from None
        return self.populate(manifest)

    @api(ImageTrainRequest, wire=get_item(lambda r: r["image"], lambda item: {"image": item}))
    def getImageInfo(self, request: ImageTrainRequest) -> dict:
        row = self._table.get({"imageId": request.imageId, "trainId": request.trainId})
        if row is None:
            raise NotFound(f"image {request.imageId!r} has no row for trainId {request.trainId!r}")
        return {"image": row}

    @api(PlateRequest)
    def getPlateInfo(self, request: PlateRequest) -> dict:
        return {"plate": self.plate(request.plateId)}

    @api()
    def listPlates(self, request: Request) -> dict:
        plates = []
        for row in self.plates():
            plates.append(
                {
                    "plateId": row["imageId"][len(PLATE_PREFIX) :],
                    "plateSourceId": row.get("plateSourceId", ""),
                    "imageCount": row.get("imageCount", 0),
                    "searchReady": row.get("searchReady", UNDEFINED),
                }
            )
        return {"plates": sorted(plates, key=lambda p: p["plateSourceId"])}

    @api(PlateRequest, wire=ITEMS_WIRE)
    def getImagesByPlateId(self, request: PlateRequest) -> dict:
        return {"plateId": request.plateId, "images": self.plate_images(request.plateId)}

    @api(PlateTrainRequest, wire=ITEMS_WIRE)
    def getImagesByPlateIdAndTrainId(self, request: PlateTrainRequest) -> dict:
        self.plate(request.plateId)
        if request.trainId == ORIGIN:
            images = self.plate_images(request.plateId)
        else:
            images = self.plate_train_rows(request.plateId, request.trainId)
        return {"plateId": request.plateId, "trainId": request.trainId, "images": images}

    @api(PlateRequest, wire=listed("imageIds", keep=("plateId",)))
    def getImageIdsByPlateId(self, request: PlateRequest) -> dict:
        return {"plateId": request.plateId, "imageIds": [img["imageId"] for img in self.plate_images(request.plateId)]}

    @api(PlateRequest, wire=listed("wellIds", keep=("plateId",)))
    def getWellsByPlateId(self, request: PlateRequest) -> dict:
        wells: dict[str, dict] = {}
        for img in self.plate_images(request.plateId):
            well = wells.setdefault(
                img["wellId"], {"wellId": img["wellId"], "wellSourceId": img.get("wellSourceId", ""), "imageCount": 0}
            )
            well["imageCount"] += 1
        ordered = sorted(wells.values(), key=lambda w: w["wellSourceId"])
        return {"plateId": request.plateId, "wellIds": [w["wellId"] for w in ordered], "wells": ordered}

    @api(PlateWellRequest, wire=ITEMS_WIRE)
    def getImagesByPlateAndWellId(self, request: PlateWellRequest) -> dict:
        images = [img for img in self.plate_images(request.plateId) if img.get("wellId") == request.wellId]
        if not images:
            raise NotFound(f"well {request.wellId!r} does not exist on plate {request.plateId!r}")
        return {"plateId": request.plateId, "wellId": request.wellId, "images": images}

    @api(InspectionRequest)
    def applyInspectionResult(self, request: InspectionRequest) -> dict:
        result = request.inspectionResult
        self.image(result.imageId)
        if result.valid and min(result.width, result.height, result.depth, result.channels) < 1:
            raise BadRequest("a valid inspection result needs positive width, height, depth and channels")
        values = {
            "searchReady": VALIDATED if result.valid else ERROR,
            "width": result.width if result.valid else -1,
            "height": result.height if result.valid else -1,
            "depth": result.depth if result.valid else -1,
            "channels": result.channels if result.valid else -1,
            "inspectionError": result.error or "",
        }
        if result.dtype:
            values["dtype"] = result.dtype
        self._table.update(
            {"imageId": result.imageId, "trainId": ORIGIN}, Update(set=values), condition=Condition.must_exist()
        )
        return {"imageId": result.imageId, **values}

    @api(PlateRequest)
    def getPlateImageStatus(self, request: PlateRequest) -> dict:
        counts = Counter(img.get("searchReady", UNDEFINED) for img in self.plate_images(request.plateId))
        return {"plateId": request.plateId, **{s: counts.get(s, 0) for s in STATUSES}}

    @api(PlateRequest)
    def createPlateMessageId(self, request: PlateRequest) -> dict:
        self.plate(request.plateId)
        message_id = self.ctx.message.create(f"Message START for plateId {request.plateId}")
        self._table.update(
            {"imageId": PLATE_PREFIX + request.plateId, "trainId": ORIGIN}, Update(set={"messageId": message_id})
        )
        return {"plateId": request.plateId, "messageId": message_id}

    @api(PlateRequest, wire=scalar("messageId", keep=("plateId",)))
    def getPlateMessageId(self, request: PlateRequest) -> dict:
        plate = self.plate(request.plateId)
        if not plate.get("messageId"):
            raise NotFound(f"plate {request.plateId!r} has no message log")
        return {"plateId": request.plateId, "messageId": plate["messageId"]}

    @api(PlateRequest)
    def finishPlateUpload(self, request: PlateRequest) -> dict:
        """The last step of the upload workflow: marks the plate's upload complete."""
        return self.finish_upload(request.plateId)

    @api(PlateRequest, wire=scalar("status", keep=("plateId",)))
    def validatePlate(self, request: PlateRequest) -> dict:
        """Plate status from its images: VALIDATED when every image is inspected, at least one is
        readable and the readable ones agree on their dimensions (unreadable ones are excluded)."""
        return self.validate(request.plateId)

    @api(CreateTrainResultRequest)
    def createImageTrainResult(self, request: CreateTrainResultRequest) -> dict:
        image = self.image(request.imageId)
        count = self.write_train_results(
            request.trainId, image["plateId"], [TrainResult(**request.model_dump(exclude={"trainId"}))]
        )
        return {"imageId": request.imageId, "trainId": request.trainId, "written": count}

    @api(CreateTrainResultsRequest)
    def createImageTrainResults(self, request: CreateTrainResultsRequest) -> dict:
        """Embeddings of many images of one plate in one call."""
        count = self.write_train_results(request.trainId, request.plateId, request.results)
        return {"plateId": request.plateId, "trainId": request.trainId, "written": count}

    @api(PlateTrainRequest)
    def deleteImageTrainResults(self, request: PlateTrainRequest) -> dict:
        if request.trainId == ORIGIN:
            raise BadRequest("origin rows are deleted with their plate, not as training results")
        rows = self.plate_train_rows(request.plateId, request.trainId)
        self._table.batch_write(deletes=[{"imageId": r["imageId"], "trainId": r["trainId"]} for r in rows])
        return {"plateId": request.plateId, "trainId": request.trainId, "deleted": len(rows)}

    @api(DimsRequest, wire=listed("plates"))
    def listCompatiblePlates(self, request: DimsRequest) -> dict:
        plates = self.compatible_plates(request.width, request.height, request.depth, request.channels)
        return {"plates": sorted(plates, key=lambda p: p["plateSourceId"])}

    @api(ImageRequest, wire=listed("tags", keep=("imageId",)))
    def getImageTags(self, request: ImageRequest) -> dict:
        return {"imageId": request.imageId, "tags": self.image(request.imageId).get("tagArr", [])}

    @api(UpdateTagsRequest)
    def updateImageTags(self, request: UpdateTagsRequest) -> dict:
        self.image(request.imageId)
        tags = sorted(set(request.tagList))
        self._table.update(
            {"imageId": request.imageId, "trainId": ORIGIN},
            Update(set={"tagArr": tags}),
            condition=Condition.must_exist(),
        )
        return {"imageId": request.imageId, "tags": tags}

    @api(UpdateTagsBatchRequest)
    def updateImageTagsBatch(self, request: UpdateTagsBatchRequest) -> dict:
        """Set the tags of many images; all image ids are checked before anything is written."""
        for item in request.items:
            row = self._table.get({"imageId": item.imageId, "trainId": ORIGIN})
            if row is None or "plateId" not in row:
                raise NotFound(f"image {item.imageId!r} does not exist")
        # One atomic update per image: concurrent writers of other attributes lose nothing.
        rows = [
            self._table.update(
                {"imageId": item.imageId, "trainId": ORIGIN},
                Update(set={"tagArr": sorted(set(item.tagList))}),
                condition=Condition.must_exist(),
            )
            for item in request.items
        ]
        return {"updated": len(rows)}
