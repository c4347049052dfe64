import pytest

from bioims.imaging.errors import ParameterError
from bioims.imaging.params import (
    CONFIG_DEFAULTS,
    KEY_ARTIFACT_KEYS,
    KEY_ARTIFACT_SIZES,
    KEY_MIN_VOXELS,
    KEY_ROI_SIZE,
    KEY_SEGMENTATION_CHANNEL,
    ArtifactParameters,
    RoiParameters,
)


def test_defaults_are_the_originals():
    assert RoiParameters.from_config({}) == RoiParameters(128, 200, "dapi")
    assert RoiParameters.from_config(CONFIG_DEFAULTS) == RoiParameters(128, 200, "dapi")
    artifacts = ArtifactParameters.from_config(CONFIG_DEFAULTS)
    assert artifacts.pairs() == [("thumbnail-2d.png", 100), ("medium-2d.png", 1000)]


def test_configuration_strings_are_parsed():
    parsed = RoiParameters.from_config(
        {KEY_ROI_SIZE: " 64 ", KEY_MIN_VOXELS: "50", KEY_SEGMENTATION_CHANNEL: "hoechst"}
    )
    assert parsed == RoiParameters(64, 50, "hoechst")
    assert ArtifactParameters.from_config({KEY_ARTIFACT_KEYS: "a.png", KEY_ARTIFACT_SIZES: "300"}).pairs() == [
        ("a.png", 300)
    ]


@pytest.mark.parametrize(
    "values",
    [
        {KEY_ROI_SIZE: "big"},
        {KEY_ROI_SIZE: "1"},
        {KEY_MIN_VOXELS: "0"},
        {KEY_MIN_VOXELS: True},
        {KEY_SEGMENTATION_CHANNEL: "  "},
    ],
)
def test_bad_roi_parameters_are_rejected(values):
    with pytest.raises(ParameterError):
        RoiParameters.from_config(values)


@pytest.mark.parametrize(
    "values",
    [
        {KEY_ARTIFACT_KEYS: "a.png,b.png", KEY_ARTIFACT_SIZES: "100"},
        {KEY_ARTIFACT_KEYS: "a.bmp", KEY_ARTIFACT_SIZES: "100"},
        {KEY_ARTIFACT_KEYS: "dir/a.png", KEY_ARTIFACT_SIZES: "100"},
        {KEY_ARTIFACT_KEYS: "a.png", KEY_ARTIFACT_SIZES: "x"},
        {KEY_ARTIFACT_KEYS: "a.png", KEY_ARTIFACT_SIZES: "0"},
    ],
)
def test_bad_artifact_parameters_are_rejected(values):
    with pytest.raises(ParameterError):
        ArtifactParameters.from_config(values)
