"""Image-artifact service: inspection and default thumbnails of one image (docs/original.md §4.3, §4.4),
called per image by the upload workflow. The work is in bioims.jobs.artifacts; this module
only validates requests and maps imaging errors to answers."""

from __future__ import annotations

from bioims.errors import BadRequest
from bioims.imaging.errors import ParameterError
from bioims.jobs.artifacts import generate_default_artifacts, inspect_stored_image
from bioims.services.api import Request, Service, api
from bioims.services.models import Flag, Id


class ImageRequest(Request):
    imageId: Id


class ArtifactRequest(Request):
    imageId: Id
    force: Flag = False


class ImageArtifactService(Service):
    name = "image-artifact"

    @api(ImageRequest)
    def inspectImage(self, request: ImageRequest) -> dict:
        """Read every channel file; record width, height, depth, channels and pixel type (or why the
        image is unreadable) on the image row."""
        return inspect_stored_image(self.ctx, request.imageId)

    @api(ArtifactRequest)
    def generateDefaultArtifacts(self, request: ArtifactRequest) -> dict:
        """Colour thumbnails at the configured sizes; existing ones are kept unless force."""
        try:
            return generate_default_artifacts(self.ctx, request.imageId, force=request.force)
        except ParameterError as exc:
            raise BadRequest(f"invalid configuration: {exc}") from None
