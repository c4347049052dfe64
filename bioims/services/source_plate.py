"""The source-plate manifest (docs/original.md §2.6): the format a lab uses to describe one plate upload.

`{plateSourceId, images: [{wellSourceId, imageSourceId, sourceBucket, sourceKey,
channelKeys?: [{name, keysuffix}], category?, label?, subclassType?, subclass?, experiment?,
metadata?}]}`. `metadata` (free key/values such as compound and concentration) is our addition.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from pydantic import Field, StrictFloat, StrictInt, StrictStr

from bioims.errors import BadRequest
from bioims.services.api import Request
from bioims.services.models import Name, Text

SourceId = Annotated[StrictStr, Field(min_length=1, max_length=512)]


class ChannelKey(Request):
    name: Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    keysuffix: Text


class ManifestImage(Request):
    wellSourceId: SourceId
    imageSourceId: SourceId
    sourceBucket: Name
    sourceKey: Text
    channelKeys: Annotated[list[ChannelKey], Field(min_length=1, max_length=64)] | None = None
    category: Name | None = None
    label: Name | None = None
    subclassType: Name | None = None
    subclass: Name | None = None
    experiment: Name | None = None
    metadata: (
        dict[Annotated[StrictStr, Field(min_length=1, max_length=128)], StrictStr | StrictInt | StrictFloat] | None
    ) = None


class SourcePlateManifest(Request):
    plateSourceId: SourceId
    images: Annotated[list[ManifestImage], Field(min_length=1, max_length=100_000)]

    def fingerprint(self) -> str:
        """sha256 of the manifest's content (key order and whitespace do not matter): two uploads
        of one plateSourceId are the same plate only when this agrees."""
        text = json.dumps(self.model_dump(mode="json", exclude_none=True), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def check_consistency(self) -> None:
        """Rules pydantic cannot express: unique image ids, one channel layout per plate,
        labels only with a category."""
        seen: set[str] = set()
        layout = None
        for image in self.images:
            if image.imageSourceId in seen:
                raise BadRequest(f"imageSourceId {image.imageSourceId!r} appears twice in plate {self.plateSourceId!r}")
            seen.add(image.imageSourceId)
            names = tuple(c.name for c in image.channelKeys) if image.channelKeys else ()
            if len(set(names)) != len(names):
                raise BadRequest(f"image {image.imageSourceId!r} repeats a channel name: {list(names)}")
            if layout is None:
                layout = names
            elif names != layout:
                raise BadRequest(
                    f"image {image.imageSourceId!r} has channels {list(names)}, other images {list(layout)}"
                )
            if image.label is not None and image.category is None:
                raise BadRequest(f"image {image.imageSourceId!r} has a label but no category")
            if image.subclass is not None and image.subclassType is None:
                raise BadRequest(f"image {image.imageSourceId!r} has a subclass but no subclassType")
