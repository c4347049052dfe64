"""Per-image and per-plate output objects (docs/original.md §3.6), written so that a crash never leaves a
complete-looking partial set.

Per image (keys from `bioims.keys`, under the embedding's prefix):
  -train.npy     uint16 (n, C, Dz, Dy, Dx) ROI tensor
  -label.npy     int32 (n,) filled with the MOA label index   | -label.NONE  "No label data"
  -subclass.npy  int32 (n,) filled with the compound index (-1 if unknown)
  -roi.json      ROI corners + count, channels, parameters: THE COMPLETION MARKER

Every object write is atomic (ObjectStore). The ROI JSON is deleted first and written last, so it
exists only when every other object of the set has been written by the same run; a set counts as
complete when the JSON exists, records the same parameters, and its companions exist. A failed
write removes what this run wrote. Outputs are deterministic, so a re-run writes identical bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from bioims import keys
from bioims.imaging.errors import ImageReadError, MissingFlatField
from bioims.imaging.flatfield import FlatField
from bioims.imaging.io import json_bytes, load_npy, npy_bytes, npy_parts
from bioims.imaging.params import RoiParameters
from bioims.imaging.pipeline import RoiResult
from bioims.store.ports import ObjectNotFound, ObjectStore, Payload

NO_LABEL_TEXT = b"No label data"
NO_SUBCLASS = -1


@dataclass(frozen=True)
class ImageOutputKeys:
    tensor: str
    label: str
    no_label: str
    subclass: str
    roi: str

    @staticmethod
    def for_image(embedding_name: str, plate_id: str, image_id: str) -> ImageOutputKeys:
        return ImageOutputKeys(
            tensor=keys.roi_tensor_key(embedding_name, plate_id, image_id),
            label=keys.label_key(embedding_name, plate_id, image_id),
            no_label=keys.no_label_key(embedding_name, plate_id, image_id),
            subclass=keys.subclass_key(embedding_name, plate_id, image_id),
            roi=keys.roi_json_key(embedding_name, plate_id, image_id),
        )

    def all(self) -> tuple[str, ...]:
        return (self.tensor, self.label, self.no_label, self.subclass, self.roi)


def read_roi_document(store: ObjectStore, output: ImageOutputKeys) -> dict | None:
    """The ROI JSON of an image, or None when absent or unreadable (= not complete)."""
    try:
        document = json.loads(store.get_bytes(output.roi))
    except (ObjectNotFound, ValueError):
        return None
    return document if isinstance(document, dict) else None


def outputs_complete(store: ObjectStore, output: ImageOutputKeys, parameters: RoiParameters | None = None) -> bool:
    """True when a previous run finished this image (with these parameters, when given)."""
    document = read_roi_document(store, output)
    if document is None:
        return False
    if parameters is not None and document.get("parameters") != parameters.as_dict():
        return False
    return (
        store.exists(output.tensor)
        and store.exists(output.subclass)
        and (store.exists(output.label) or store.exists(output.no_label))
    )


def write_image_outputs(
    store: ObjectStore,
    output: ImageOutputKeys,
    result: RoiResult,
    parameters: RoiParameters,
    *,
    label_index: int | None,
    subclass_index: int = NO_SUBCLASS,
) -> list[str]:
    """Write one image's ROI set; returns the keys written. label_index None = unlabelled image."""
    count = result.count
    payloads: list[tuple[str, Payload]] = [(output.tensor, npy_parts(result.tensor))]
    if label_index is None:
        payloads.append((output.no_label, NO_LABEL_TEXT))
        stale = output.label
    else:
        payloads.append((output.label, npy_bytes(np.full(count, label_index, dtype=np.int32))))
        stale = output.no_label
    payloads.append((output.subclass, npy_bytes(np.full(count, subclass_index, dtype=np.int32))))
    marker = json_bytes(result.roi_document(parameters))

    store.delete(output.roi)
    written: list[str] = []
    try:
        for key, data in payloads:
            store.put_bytes(key, data)
            written.append(key)
        store.delete(stale)
        store.put_bytes(output.roi, marker, content_type="application/json")
        written.append(output.roi)
    except BaseException:
        for key in written:
            try:
                store.delete(key)
            except Exception:
                pass
        raise
    return written


def read_roi_tensor(store: ObjectStore, output: ImageOutputKeys) -> np.ndarray:
    try:
        return load_npy(store.get_bytes(output.tensor), output.tensor)
    except ObjectNotFound:
        raise ImageReadError(f"no ROI tensor {output.tensor!r}") from None


# --- flat fields ---------------------------------------------------------------------------------
def write_flat_field(store: ObjectStore, plate_id: str, flat: FlatField) -> str:
    key = keys.flatfield_key(plate_id, flat.channel)
    store.put_bytes(key, npy_bytes(flat.to_storage()))
    return key


def read_flat_field(
    store: ObjectStore, plate_id: str, channel: str, expected_shape: tuple[int, ...] | None = None
) -> FlatField:
    key = keys.flatfield_key(plate_id, channel)
    try:
        data = store.get_bytes(key)
    except ObjectNotFound:
        raise MissingFlatField(
            f"plate {plate_id}: no flat field for channel {channel!r} ({key}); run plate preprocessing first"
        ) from None
    return FlatField.from_array(channel, load_npy(data, key), expected_shape)


def flat_field_exists(store: ObjectStore, plate_id: str, channel: str) -> bool:
    return store.exists(keys.flatfield_key(plate_id, channel))
