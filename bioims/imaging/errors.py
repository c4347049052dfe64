"""Errors of the imaging pipeline. Each names the image/channel/object it concerns, so a plate run
can record the failure of one image and carry on with the others. They are BadRequests (400) of
the error family (bioims.errors) and ValueErrors, which callers of the array code catch."""

from __future__ import annotations

from bioims.errors import BadRequest


class ImagingError(BadRequest, ValueError):
    """Base class: the input cannot be processed as given (the message says why)."""


class ImageReadError(ImagingError):
    """A channel file is missing, unreadable or not a supported TIFF."""


class ImageShapeError(ImagingError):
    """Channels of one image (or an image and its plate's flat field) disagree in shape."""


class UnsupportedImageError(ImagingError):
    """The pixel type or dimensionality is outside what the pipeline handles (8/16-bit, 2-D/3-D)."""


class ParameterError(ImagingError):
    """A processing parameter (ROI size, minimum voxels, channel names, artifact sizes) is invalid."""


class MissingFlatField(ImagingError):
    """The plate's flat field for a channel has not been computed (a setup problem of the plate,
    not of one image: plate preprocessing must run first)."""


# Errors that concern the data of one image: a plate run records them for that image and goes on.
IMAGE_DATA_ERRORS: tuple[type[ImagingError], ...] = (ImageReadError, ImageShapeError, UnsupportedImageError)
