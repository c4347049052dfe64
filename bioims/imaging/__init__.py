"""Image processing, as whole-array numpy/scipy/scikit-image code (docs/original.md §4.0-4.4).

Pure array code: flat fields per plate and channel (`flatfield`), per-image normalisation, nucleus
detection and ROI cropping (`pipeline`, built from `normalize`, `segment`, `rois`), colour
thumbnails (`thumbnails`, `palette`), image inspection (`inspection`), object I/O (`io`, `outputs`).
Parameters and the original's constants live in `params`.

It imports nothing above bioims.store: the work on stored plates (flat fields of a plate, one
image's ROIs, inspection and thumbnails, image status, parameters and labels read from the
services) is in bioims.jobs.
"""

from bioims.imaging.errors import (
    ImageReadError,
    ImageShapeError,
    ImagingError,
    ParameterError,
    UnsupportedImageError,
)
from bioims.imaging.flatfield import FlatField, FlatFieldAccumulator, compute_flat_field, flat_field_from_mean
from bioims.imaging.inspection import InspectionResult, inspect_image
from bioims.imaging.io import ChannelSource, channel_sources, read_channel, read_image
from bioims.imaging.outputs import (
    ImageOutputKeys,
    outputs_complete,
    read_flat_field,
    write_flat_field,
    write_image_outputs,
)
from bioims.imaging.params import ArtifactParameters, RoiParameters
from bioims.imaging.pipeline import RoiResult, preprocess_image, segmentation_index
from bioims.imaging.thumbnails import render_thumbnails

__all__ = [
    "ArtifactParameters",
    "ChannelSource",
    "FlatField",
    "FlatFieldAccumulator",
    "ImageOutputKeys",
    "ImageReadError",
    "ImageShapeError",
    "ImagingError",
    "InspectionResult",
    "ParameterError",
    "RoiParameters",
    "RoiResult",
    "UnsupportedImageError",
    "channel_sources",
    "compute_flat_field",
    "flat_field_from_mean",
    "inspect_image",
    "outputs_complete",
    "preprocess_image",
    "read_channel",
    "read_flat_field",
    "read_image",
    "render_thumbnails",
    "segmentation_index",
    "write_flat_field",
    "write_image_outputs",
]
