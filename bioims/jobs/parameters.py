"""Processing parameters read from the configuration service (docs/original.md §2.2), parsed once."""

from __future__ import annotations

from bioims.imaging.errors import ParameterError
from bioims.imaging.params import (
    KEY_ARTIFACT_KEYS,
    KEY_ARTIFACT_SIZES,
    KEY_MIN_VOXELS,
    KEY_ROI_SIZE,
    KEY_SEGMENTATION_CHANNEL,
    ArtifactParameters,
    RoiParameters,
)
from bioims.services.configuration import ConfigurationService


def _values(configuration: ConfigurationService, keys: tuple[str, ...]) -> dict[str, str]:
    return {key: configuration.value(key) for key in keys}


def roi_parameters(configuration: ConfigurationService) -> RoiParameters:
    """ROI size, minimum nucleus voxels and segmentation channel (defaults: 128, 200, dapi)."""
    return RoiParameters.from_config(_values(configuration, (KEY_ROI_SIZE, KEY_MIN_VOXELS, KEY_SEGMENTATION_CHANNEL)))


def artifact_parameters(configuration: ConfigurationService) -> ArtifactParameters:
    """Thumbnail names and sizes (defaults: thumbnail-2d.png 100, medium-2d.png 1000)."""
    return ArtifactParameters.from_config(_values(configuration, (KEY_ARTIFACT_KEYS, KEY_ARTIFACT_SIZES)))


def embedding_roi_parameters(configuration: ConfigurationService, embedding: dict) -> RoiParameters:
    """The ROI parameters of an embedding: its row states ROI size, minimum voxels and the
    segmentation channel (filled from the configuration when the embedding was created), so the
    ROIs stored under the embedding's name always match what the embedding says
    (docs/original.md §8.1 #9). Fields an older row lacks come from the configuration."""
    width, height = embedding.get("roiWidth"), embedding.get("roiHeight")
    if width is not None and height is not None and width != height:
        raise ParameterError(f"embedding {embedding.get('embeddingName', '?')!r} has non-square ROIs {width}x{height}")
    # The configuration is read only for fields the row lacks: an embedding that states all three
    # never depends on (or fails with) the global values.
    if width is None or "minVoxels" not in embedding or "segmentationChannel" not in embedding:
        configured = roi_parameters(configuration)
    else:
        configured = RoiParameters()
    return RoiParameters(
        roi_size=int(width if width is not None else configured.roi_size),
        min_voxels=int(embedding.get("minVoxels", configured.min_voxels)),
        segmentation_channel=str(embedding.get("segmentationChannel", configured.segmentation_channel)),
    )
