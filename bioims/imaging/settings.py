"""Processing parameters read from the configuration service (ORIGINAL.md 2.2), parsed once."""

from __future__ import annotations

from bioims.imaging.params import (
    KEY_ARTIFACT_KEYS,
    KEY_ARTIFACT_SIZES,
    KEY_MIN_VOXELS,
    KEY_ROI_SIZE,
    KEY_SEGMENTATION_CHANNEL,
    ArtifactParameters,
    RoiParameters,
)


def _values(ctx, keys: tuple[str, ...]) -> dict[str, str]:
    configuration = ctx.service("configuration")
    return {key: configuration.value(key) for key in keys}


def roi_parameters(ctx) -> RoiParameters:
    """ROI size, minimum nucleus voxels and segmentation channel (defaults: 128, 200, dapi)."""
    return RoiParameters.from_config(_values(ctx, (KEY_ROI_SIZE, KEY_MIN_VOXELS, KEY_SEGMENTATION_CHANNEL)))


def artifact_parameters(ctx) -> ArtifactParameters:
    """Thumbnail names and sizes (defaults: thumbnail-2d.png 100, medium-2d.png 1000)."""
    return ArtifactParameters.from_config(_values(ctx, (KEY_ARTIFACT_KEYS, KEY_ARTIFACT_SIZES)))


def check_embedding(embedding: dict, parameters: RoiParameters) -> None:
    """The embedding row also states ROI width/height, minimum voxels and segmentation channel;
    the original let these silently disagree with the configuration that was actually used
    (ORIGINAL.md 8.1 #9). A disagreement is an error that names both values."""
    from bioims.imaging.errors import ParameterError

    name = embedding.get("embeddingName", "?")
    stated = {
        "roiWidth": (embedding.get("roiWidth"), parameters.roi_size, KEY_ROI_SIZE),
        "roiHeight": (embedding.get("roiHeight"), parameters.roi_size, KEY_ROI_SIZE),
        "minVoxels": (embedding.get("minVoxels"), parameters.min_voxels, KEY_MIN_VOXELS),
        "segmentationChannel": (embedding.get("segmentationChannel"), parameters.segmentation_channel, KEY_SEGMENTATION_CHANNEL),
    }
    problems = [
        f"{field}={value!r} but configuration {key}={used!r}"
        for field, (value, used, key) in stated.items()
        if value is not None and value != used
    ]
    if problems:
        raise ParameterError(f"embedding {name!r} disagrees with the processing configuration: " + "; ".join(problems))
