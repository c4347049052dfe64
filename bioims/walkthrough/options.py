"""What a walkthrough run is asked to do, validated once."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path


class WalkthroughError(RuntimeError):
    """A walkthrough cannot go on; the message says what to do."""


@dataclass(frozen=True)
class WalkthroughOptions:
    # data: a real BBBC021 copy, or synthetic plates generated into synthetic_dir
    bbbc021_dir: Path | None = None
    synthetic_dir: Path | None = None  # default: <BIOIMS_HOME>/bbbc021-synthetic
    plates: tuple[str, ...] = ()  # explicit plate names; else the first n_plates of the covering order
    n_plates: int = 8
    fields_per_well: int = 1
    height: int = 256
    width: int = 320
    cell_scale: float = 0.5
    seed: int = 0
    label_mode: str = "standard"
    # model
    embedding_name: str = "bbbc021"
    network: str = "bioims-resnet"
    hyperparameters: dict = field(default_factory=dict)
    # leave-one-compound-out models: "all", "none" or a number of compounds
    nsc: str = "3"
    # outputs
    out: Path = Path("walkthrough-report")
    example_hits: int = 10
    # on AWS: seconds between polls of a running execution; where plate images are staged in S3
    poll_seconds: float = 10.0
    source_prefix: str = "bbbc021/"

    def __post_init__(self) -> None:
        if self.n_plates < 1:
            raise WalkthroughError("--n-plates must be at least 1")
        if self.fields_per_well < 1 or self.fields_per_well > 4:
            raise WalkthroughError("--fields-per-well must be between 1 and 4 (BBBC021 has 4 fields per well)")
        if min(self.height, self.width) < 64:
            raise WalkthroughError("image size must be at least 64x64")
        if self.nsc not in ("all", "none") and not (self.nsc.isdigit() and int(self.nsc) >= 0):
            raise WalkthroughError(f"--nsc must be all, none or a number, not {self.nsc!r}")
        if self.poll_seconds <= 0:
            raise WalkthroughError("poll_seconds must be positive")
        if self.source_prefix and not self.source_prefix.endswith("/"):
            raise WalkthroughError("source_prefix must end with '/'")
        if self.label_mode not in ("standard", "compound"):
            raise WalkthroughError("--label-mode must be standard or compound")
        if self.bbbc021_dir is not None and not Path(self.bbbc021_dir).is_dir():
            raise WalkthroughError(f"--bbbc021-dir {self.bbbc021_dir} is not a directory")

    @property
    def synthetic(self) -> bool:
        return self.bbbc021_dir is None

    def nsc_count(self, available: int) -> int:
        if self.nsc == "all":
            return available
        if self.nsc == "none":
            return 0
        return min(int(self.nsc), available)

    def describe(self) -> dict:
        """JSON-able form, recorded with the run."""
        out = asdict(self)
        for key in ("bbbc021_dir", "synthetic_dir", "out"):
            out[key] = None if out[key] is None else str(out[key])
        out["plates"] = list(self.plates)
        return out
