"""Processing parameters: the original's constants (docs/original.md §4.1-4.3, §B) and the
configuration keys that override the tunable ones, defined once.

The tunable values come from the configuration service (keys below); `from_config` parses the
string values it stores and rejects bad ones with a clear message instead of failing later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bioims.imaging.errors import ParameterError

# --- fixed constants of the original's math ---------------------------------------------------
HIST_BINS = 100  # every histogram cut-off uses 100 equal bins over [min, max]
FLATFIELD_QUANTILE = 0.30  # plate mean clipped at its ~30th percentile (background level)
FLATFIELD_SIGMA = 50.0  # Gaussian smoothing of the clipped mean, in pixels
GAUSSIAN_MODE = "nearest"
GAUSSIAN_TRUNCATE = 4.0
TOP_CLIP_QUANTILE = 0.99  # each image channel is clipped at its ~99th percentile
THUMBNAIL_BACKGROUND_QUANTILE = 0.20  # thumbnails: background = mean of the image clipped at ~20 %
LOG_RATIO_MAX = 5.0  # ln(image / background) is clamped to [0, 5]
OTSU_BINS = 256
ROI_SCALE = 65535  # normalised [0, 1] crops are stored as uint16 after x65535 (truncation)

# --- configuration keys (BioimsConfiguration) and their defaults ---------------------------------
KEY_ROI_SIZE = "image-preprocessing-roi-size"
KEY_MIN_VOXELS = "image-preprocessing-min-voxels"
KEY_SEGMENTATION_CHANNEL = "image-preprocessing-segmentation-channel"
KEY_ARTIFACT_SIZES = "default-image-artifact-sizes"
KEY_ARTIFACT_KEYS = "default-image-artifact-keys"

DEFAULT_ROI_SIZE = 128
DEFAULT_MIN_VOXELS = 200
DEFAULT_SEGMENTATION_CHANNEL = "dapi"
DEFAULT_ARTIFACT_SIZES = (100, 1000)
DEFAULT_ARTIFACT_NAMES = ("thumbnail-2d.png", "medium-2d.png")

CONFIG_DEFAULTS: dict[str, str] = {
    KEY_ROI_SIZE: str(DEFAULT_ROI_SIZE),
    KEY_MIN_VOXELS: str(DEFAULT_MIN_VOXELS),
    KEY_SEGMENTATION_CHANNEL: DEFAULT_SEGMENTATION_CHANNEL,
    KEY_ARTIFACT_SIZES: ",".join(str(s) for s in DEFAULT_ARTIFACT_SIZES),
    KEY_ARTIFACT_KEYS: ",".join(DEFAULT_ARTIFACT_NAMES),
}

ARTIFACT_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF", "tiff": "TIFF"}


@dataclass(frozen=True)
class RoiParameters:
    """What image preprocessing needs: ROI edge length, the smallest nucleus kept (in voxels) and
    the name of the channel that is segmented."""

    roi_size: int = DEFAULT_ROI_SIZE
    min_voxels: int = DEFAULT_MIN_VOXELS
    segmentation_channel: str = DEFAULT_SEGMENTATION_CHANNEL

    def __post_init__(self) -> None:
        if isinstance(self.roi_size, bool) or not isinstance(self.roi_size, int) or self.roi_size < 2:
            raise ParameterError(f"{KEY_ROI_SIZE} must be an integer >= 2, not {self.roi_size!r}")
        if isinstance(self.min_voxels, bool) or not isinstance(self.min_voxels, int) or self.min_voxels < 1:
            raise ParameterError(f"{KEY_MIN_VOXELS} must be an integer >= 1, not {self.min_voxels!r}")
        if not isinstance(self.segmentation_channel, str) or not self.segmentation_channel.strip():
            raise ParameterError(
                f"{KEY_SEGMENTATION_CHANNEL} must be a channel name, not {self.segmentation_channel!r}"
            )

    def as_dict(self) -> dict[str, object]:
        """The form recorded in each image's ROI JSON, so stale outputs can be recognised."""
        return {
            "roiSize": self.roi_size,
            "minVoxels": self.min_voxels,
            "segmentationChannel": self.segmentation_channel,
        }

    @staticmethod
    def from_config(values: Mapping[str, object]) -> RoiParameters:
        """Parse configuration values (strings as stored by the configuration service); missing
        keys take the original's defaults."""
        return RoiParameters(
            roi_size=_parse_int(values, KEY_ROI_SIZE, DEFAULT_ROI_SIZE),
            min_voxels=_parse_int(values, KEY_MIN_VOXELS, DEFAULT_MIN_VOXELS),
            segmentation_channel=str(values.get(KEY_SEGMENTATION_CHANNEL) or DEFAULT_SEGMENTATION_CHANNEL).strip(),
        )


@dataclass(frozen=True)
class ArtifactParameters:
    """Default image artifacts: one (file name, long-side size) pair per thumbnail."""

    names: tuple[str, ...] = DEFAULT_ARTIFACT_NAMES
    sizes: tuple[int, ...] = DEFAULT_ARTIFACT_SIZES

    def __post_init__(self) -> None:
        if len(self.names) != len(self.sizes) or not self.names:
            raise ParameterError(
                f"each of {KEY_ARTIFACT_KEYS} must have a corresponding entry in {KEY_ARTIFACT_SIZES} "
                f"(got {len(self.names)} names, {len(self.sizes)} sizes)"
            )
        for name in self.names:
            if "/" in name or not name or artifact_format(name) is None:
                raise ParameterError(
                    f"artifact name {name!r} must be a file name ending in one of {sorted(ARTIFACT_FORMATS)}"
                )
        for size in self.sizes:
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ParameterError(f"artifact size must be a positive integer, not {size!r}")

    def pairs(self) -> list[tuple[str, int]]:
        return list(zip(self.names, self.sizes, strict=True))

    @staticmethod
    def from_config(values: Mapping[str, object]) -> ArtifactParameters:
        names = _split(values.get(KEY_ARTIFACT_KEYS), DEFAULT_ARTIFACT_NAMES)
        raw_sizes = _split(values.get(KEY_ARTIFACT_SIZES), tuple(str(s) for s in DEFAULT_ARTIFACT_SIZES))
        sizes = []
        for text in raw_sizes:
            try:
                sizes.append(int(text))
            except ValueError:
                raise ParameterError(f"{KEY_ARTIFACT_SIZES} must be comma-separated integers, not {text!r}") from None
        return ArtifactParameters(names=tuple(names), sizes=tuple(sizes))


def artifact_format(name: str) -> str | None:
    """PIL format for an artifact file name, from its extension (the original used the last three
    characters of the key)."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return ARTIFACT_FORMATS.get(extension)


def _parse_int(values: Mapping[str, object], key: str, default: int) -> int:
    raw = values.get(key)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    if isinstance(raw, bool):
        raise ParameterError(f"{key} must be an integer, not {raw!r}")
    if isinstance(raw, int):
        return raw
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ParameterError(f"{key} must be an integer, not {raw!r}") from None


def _split(raw: object, default: tuple[str, ...]) -> list[str]:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return list(default)
    return [part.strip() for part in str(raw).split(",")]
