"""Image processing, as whole-array numpy/scipy/scikit-image code (docs/original.md §4.0-4.4).

Pure array code: flat fields per plate and channel (`flatfield`), per-image normalisation, nucleus
detection and ROI cropping (`pipeline`, built from `normalize`, `segment`, `rois`), colour
thumbnails (`thumbnails`, `palette`), image inspection (`inspection`), object I/O (`io`, `outputs`).
Parameters and the original's constants live in `params`.

Work on stored plates (through the services): plate flat fields (`plate_job`), one image's ROIs
(`image_job`), inspection and thumbnails (`artifacts`), the container jobs (`jobs`), the image
status per embedding (`status`), parameters from the configuration service (`settings`), training
labels (`labels`).
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
from bioims.imaging.artifacts import generate_default_artifacts, inspect_stored_image
from bioims.imaging.image_job import preprocess_stored_image
from bioims.imaging.plate_job import compute_plate_flat_fields
from bioims.imaging.status import image_status, record_status

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
    "compute_plate_flat_fields",
    "generate_default_artifacts",
    "image_status",
    "inspect_stored_image",
    "preprocess_stored_image",
    "record_status",
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
