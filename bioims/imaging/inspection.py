"""Image inspection (docs/original.md §4.4): can every channel be read, and what are the image's shape,
channel count and pixel type?

Width is the last axis, height the second-to-last, depth the third-to-last (1 for a 2-D file).
All three dimensions and the pixel type are compared across channels, and every failure yields an
invalid result with its reason, so plate validation sees every bad image (docs/original.md §8.4 #29).
Baseline uncompressed TIFFs (what microscopes and tifffile write) are checked from their headers
alone, strips inside the file included, which is everything reading their pixels could find wrong;
every other file is decoded (`bioims.imaging.io.channel_geometry`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bioims.imaging.errors import ImagingError
from bioims.imaging.io import channel_geometry, channel_sources

INVALID_DIM = -1


@dataclass(frozen=True)
class InspectionResult:
    image_id: str
    valid: bool
    width: int = INVALID_DIM
    height: int = INVALID_DIM
    depth: int = INVALID_DIM
    channels: int = INVALID_DIM
    dtype: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The `inspectionResult` shape that image-management's applyInspectionResult takes."""
        out: dict[str, Any] = {
            "imageId": self.image_id,
            "valid": self.valid,
            "width": self.width,
            "height": self.height,
            "depth": self.depth,
            "channels": self.channels,
        }
        if self.dtype is not None:
            out["dtype"] = self.dtype
        if self.error is not None:
            out["error"] = self.error
        return out


def inspect_image(stores: Any, row: Mapping[str, Any]) -> InspectionResult:
    """Read every channel of an image origin row and report its geometry, or why it is invalid."""
    image_id = str(row.get("imageId", ""))
    try:
        sources = channel_sources(row)
        first: tuple[int, ...] | None = None
        dtypes: list[str] = []
        for source in sources:
            label = f"image {image_id} channel {source.name} ({source.bucket}/{source.key})"
            (depth, height, width), channel_dtype = channel_geometry(stores.bucket(source.bucket), source.key, label)
            if first is None:
                first = (width, height, depth)
            elif (width, height, depth) != first:
                raise ImagingError(
                    f"image {image_id}: channel {source.name!r} is {width}x{height}x{depth} (w x h x d) "
                    f"but channel {sources[0].name!r} is {first[0]}x{first[1]}x{first[2]}"
                )
            dtypes.append(str(channel_dtype))
    except (ImagingError, ValueError) as exc:
        return InspectionResult(image_id, False, error=str(exc))
    assert first is not None
    dtype = dtypes[0] if len(set(dtypes)) == 1 else ",".join(dtypes)
    return InspectionResult(image_id, True, first[0], first[1], first[2], len(sources), dtype)
