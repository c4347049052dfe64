"""The synthetic BBBC021 world: from a design row to the cells and imaging of one field.

Randomness is drawn from independent streams keyed by (seed, week), (seed, plate),
(seed, plate, well) and (seed, plate, well, site), so a field's pixels depend only on the seed,
its own position in the design and the configuration: generating a subset of plates gives exactly
the images that generating everything would.

Variation, from coarse to fine: week (batch: stain gains, background, illumination, focus, texture
contrast, culture density and cell size, and a week-specific distortion of every compound's response
that per-plate DMSO normalisation cannot remove), plate (gain, density, illumination centre), well
(treatment effect plus well-to-well noise), field (density), cell (responder or not, cell-to-cell
variation, mitosis, micronuclei, multinucleation, shape, texture).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Final

import numpy as np
from scipy.spatial import cKDTree

from bioims.bbbc021 import layout
from bioims.bbbc021.csvs import concentration_key
from bioims.bbbc021.design import Design, load_design
from bioims.bbbc021.synthetic import phenotypes as ph
from bioims.bbbc021.synthetic import render, textures
from bioims.bbbc021.synthetic.render import Imaging

FULL_HEIGHT: Final = 1024
FULL_WIDTH: Final = 1280
NUCLEUS_RADIUS: Final = 10.5  # px at cell_scale 1 (area ~350 px, above the 200 px minimum)
CELL_RADIUS: Final = 26.0
WELL_SPREAD: Final = 0.12  # well-to-well variation, in units of phenotypes.SCALE
CELL_SPREAD: Final = 0.3  # cell-to-cell variation, in units of phenotypes.SCALE
# Batch effect that per-plate DMSO normalisation cannot remove: each week distorts every
# compound's response by its own near-identity linear map (in units of SCALE), so compounds of one
# week resemble each other more than the same MOA in another week (NSCB < NSC).
WEEK_RESPONSE: Final = 0.2
WEEK_SHARED: Final = 0.4  # shared direction of all responses in a week, in units of SCALE
CHANNEL_LEVELS: Final = np.array([2000.0, 600.0, 520.0])  # DAPI, tubulin, actin peak ADU
BACKGROUND: Final = np.array([55.0, 85.0, 75.0])
CAMERA_OFFSET: Final = 100.0


@dataclass(frozen=True)
class SynthConfig:
    """What to simulate. `height` x `width` in px (real BBBC021: 1024 x 1280); `cell_scale`
    multiplies cell and nucleus sizes (1 = real size; the cell count per field scales with
    area / cell_scale**2); `cells_per_field`: mean number of DMSO cells in a 1024 x 1280 field."""

    seed: int = 0
    height: int = FULL_HEIGHT
    width: int = FULL_WIDTH
    fields_per_well: int = 4
    cell_scale: float = 1.0
    cells_per_field: float = 125.0

    def __post_init__(self) -> None:
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, not {self.seed!r}")
        for name in ("height", "width"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or not 32 <= value <= 8192:
                raise ValueError(f"{name} must be an integer between 32 and 8192, not {value!r}")
        if not isinstance(self.fields_per_well, (int, np.integer)) or not 1 <= self.fields_per_well <= 4:
            raise ValueError(f"fields_per_well must be 1..4 (BBBC021 has 4 sites), not {self.fields_per_well!r}")
        if not 0.1 <= float(self.cell_scale) <= 4.0:
            raise ValueError(f"cell_scale must be between 0.1 and 4, not {self.cell_scale!r}")
        if not 1.0 <= float(self.cells_per_field) <= 2000.0:
            raise ValueError(f"cells_per_field must be between 1 and 2000, not {self.cells_per_field!r}")

    @property
    def body_patch(self) -> int:
        return 2 * int(np.ceil(CELL_RADIUS * self.cell_scale * 2.3))

    @property
    def nucleus_patch(self) -> int:
        return 2 * int(np.ceil(NUCLEUS_RADIUS * self.cell_scale * 2.6))

    @property
    def spot_patch(self) -> int:
        return 2 * int(np.ceil(NUCLEUS_RADIUS * self.cell_scale * 0.45 + 2))


@dataclass(frozen=True)
class WeekConditions:
    gain: np.ndarray  # (3,) multiplicative stain/exposure gain
    background: np.ndarray  # (3,)
    offset: np.ndarray  # (3,)
    vignette: np.ndarray  # (3,) illumination fall-off at the corners
    centre: np.ndarray  # (2,) illumination centre offset, fraction of the size
    tilt: np.ndarray  # (3, 2) linear illumination gradient per channel
    edge: float  # object edge width (focus), px
    texture: float  # texture contrast multiplier
    shift: np.ndarray  # (len(PARAMS),) culture shift of the baseline phenotype
    density: float  # log cell-density shift
    shared: np.ndarray  # (len(PARAMS),) response component common to all compounds of the week
    response: np.ndarray  # (len(PARAMS), len(PARAMS)) how this week's cells distort every response


@dataclass(frozen=True)
class PlateConditions:
    gain: np.ndarray
    density: float
    centre: np.ndarray


@dataclass(frozen=True)
class WellState:
    effect: float  # fraction of the compound's full effect at this concentration
    centre: np.ndarray  # baseline phenotype of the well (week shift + well noise)
    delta: np.ndarray  # full-effect change of the compound as this week's cells respond
    params: np.ndarray  # mean phenotype: centre + effect * compound delta, clipped
    density: float  # log density deviation of the well


@dataclass
class FieldTruth:
    """What was simulated in a field (for tests and diagnostics)."""

    compound: str
    concentration: float
    effect: float
    n_cells: int
    nucleus_y: np.ndarray
    nucleus_x: np.ndarray
    nucleus_area: np.ndarray
    mitotic: np.ndarray
    responder: np.ndarray
    extra: dict = field(default_factory=dict)


class SyntheticBbbc021:
    """Renders fields of the synthetic BBBC021 for a configuration. The design is the full
    published design unless given (a field's pixels depend on the design only through its own row
    and its compound's concentrations)."""

    def __init__(self, config: SynthConfig = SynthConfig(), design: Design | None = None):
        self.config = config
        self.design = design if design is not None else load_design()
        self._profiles: dict[str, ph.CompoundProfile] = {}
        self._weeks: dict[str, WeekConditions] = {}
        self._plates: dict[str, PlateConditions] = {}
        self._illumination: dict[str, np.ndarray] = {}

    # --- lookups -------------------------------------------------------------------------------
    @cached_property
    def _rows(self) -> dict[tuple[str, str, int], int]:
        f = self.design.fields
        return {key: i for i, key in enumerate(zip(f["plate"], f["well"], f["site"].astype(int), strict=True))}

    def row(self, plate: str, well: str, site: int):
        try:
            return self.design.fields.iloc[self._rows[(plate, well, int(site))]]
        except KeyError:
            raise KeyError(f"no field {plate}/{well}/s{site} in the BBBC021 design") from None

    def profile(self, compound: str) -> ph.CompoundProfile:
        if compound not in self._profiles:
            fields = self.design.fields
            concentrations = np.unique(fields.loc[fields["compound"] == compound, "concentration"].to_numpy())
            moa_table = self.design.moa_table
            annotated = moa_table.loc[moa_table["compound"] == compound, "concentration"].to_numpy(dtype=float)
            moa = self.design.compound_moa.get(compound)
            self._profiles[compound] = ph.compound_profile(
                self.config.seed, compound, moa, concentration_key(concentrations), annotated
            )
        return self._profiles[compound]

    def week(self, week: str) -> WeekConditions:
        if week not in self._weeks:
            rng = np.random.default_rng([self.config.seed, 21, ph.stable_hash(week)])
            shift = np.zeros(len(ph.PARAMS))
            shift[ph.INDEX["cell_size"]] = rng.normal(0, 0.05)
            shift[ph.INDEX["nuc_size"]] = rng.normal(0, 0.03)
            shift[ph.INDEX["tub_fibre"]] = rng.normal(0, 0.06)
            shift[ph.INDEX["act_fibre"]] = rng.normal(0, 0.06)
            shift[ph.INDEX["chromatin"]] = rng.normal(0, 0.04)
            self._weeks[week] = WeekConditions(
                gain=np.exp(rng.normal(0, 0.15, 3)),
                background=BACKGROUND * np.exp(rng.normal(0, 0.2, 3)),
                offset=CAMERA_OFFSET + rng.uniform(-8, 8, 3),
                vignette=rng.uniform(0.15, 0.35) * rng.uniform(0.8, 1.2, 3),
                centre=rng.normal(0, 0.08, 2),
                tilt=rng.normal(0, 0.06, (3, 2)),
                edge=float(1.6 * np.exp(rng.normal(0, 0.25))),
                texture=float(np.exp(rng.normal(0, 0.15))),
                shift=shift,
                density=float(rng.normal(0, 0.12)),
                shared=rng.normal(0, WEEK_SHARED, len(ph.PARAMS)) * ph.SCALE,
                response=np.eye(len(ph.PARAMS))
                + rng.normal(0, WEEK_RESPONSE / np.sqrt(len(ph.PARAMS)), (len(ph.PARAMS), len(ph.PARAMS))),
            )
        return self._weeks[week]

    def plate(self, plate: str) -> PlateConditions:
        if plate not in self._plates:
            rng = np.random.default_rng([self.config.seed, 22, ph.stable_hash(plate)])
            self._plates[plate] = PlateConditions(
                gain=np.exp(rng.normal(0, 0.05, 3)),
                density=float(rng.normal(0, 0.08)),
                centre=rng.normal(0, 0.02, 2),
            )
        return self._plates[plate]

    def illumination(self, plate: str) -> np.ndarray:
        """(3, H, W) float32 illumination of a plate, mean 1 per channel (kept for the last plate)."""
        if plate not in self._illumination:
            week = self.week(layout.week_of(plate))
            centre = week.centre + self.plate(plate).centre
            h, w = self.config.height, self.config.width
            y = (np.arange(h, dtype=np.float32) / h - 0.5 - np.float32(centre[0]))[:, None]
            x = (np.arange(w, dtype=np.float32) / w - 0.5 - np.float32(centre[1]))[None, :]
            aspect = np.float32(w / h)
            d2 = (y * y + (x * aspect) ** 2) / np.float32(0.25 * (1 + aspect**2))
            fields = []
            for c in range(3):
                ty, tx = week.tilt[c]
                field = (np.float32(1) - np.float32(week.vignette[c]) * d2) * (
                    np.float32(1) + np.float32(ty) * y + np.float32(tx) * x
                )
                fields.append(field / field.mean())
            self._illumination = {plate: np.stack(fields).astype(np.float32)}
        return self._illumination[plate]

    def well_state(self, plate: str, well: str) -> WellState:
        """The treatment effect and mean phenotype of a well (shared by its fields)."""
        row = self.row(plate, well, 1) if (plate, well, 1) in self._rows else self._first_row(plate, well)
        week = self.week(row["week"])
        profile = self.profile(row["compound"])
        effect = float(profile.effect(row["concentration"]))
        delta = ph.SCALE * (week.response @ (profile.delta / ph.SCALE))
        if np.any(profile.delta):
            delta = delta + week.shared
        rng = np.random.default_rng([self.config.seed, 23, ph.stable_hash(plate), ph.stable_hash(well)])
        centre = ph.BASELINE + week.shift + rng.normal(0, WELL_SPREAD, len(ph.PARAMS)) * ph.SCALE
        return WellState(effect, centre, delta, ph.clip_params(centre + effect * delta), float(rng.normal(0, 0.12)))

    def _first_row(self, plate: str, well: str):
        for (p, w, _), i in self._rows.items():
            if p == plate and w == well:
                return self.design.fields.iloc[i]
        raise KeyError(f"no well {plate}/{well} in the BBBC021 design")

    # --- one field -----------------------------------------------------------------------------
    def render(self, plate: str, well: str, site: int) -> np.ndarray:
        """(3, H, W) uint16: DAPI, tubulin, actin."""
        return self.render_with_truth(plate, well, site)[0]

    def render_with_truth(self, plate: str, well: str, site: int) -> tuple[np.ndarray, FieldTruth]:
        """The field and what was simulated in it (cells, responders, nuclei)."""
        cfg = self.config
        row = self.row(plate, well, site)
        week = self.week(row["week"])
        plate_c = self.plate(plate)
        state = self.well_state(plate, well)
        effect, centre, well_params, well_density = state.effect, state.centre, state.params, state.density
        delta = state.delta

        rng = np.random.default_rng([cfg.seed, 24, ph.stable_hash(plate), ph.stable_hash(well), int(site)])
        area = cfg.height * cfg.width / (FULL_HEIGHT * FULL_WIDTH) / cfg.cell_scale**2
        log_density = well_params[ph.INDEX["density"]] + week.density + plate_c.density + well_density
        n_mean = cfg.cells_per_field * area * np.exp(log_density + rng.normal(0, 0.08))
        n = int(rng.poisson(n_mean))

        responder = rng.uniform(size=n) < effect
        magnitude = np.where(responder, (0.55 + 0.45 * effect) * rng.lognormal(0, 0.25, n), 0.0)
        cells = centre + magnitude[:, None] * delta + rng.normal(0, CELL_SPREAD, (n, len(ph.PARAMS))) * ph.SCALE
        cells = ph.clip_params(cells)
        y, x = _positions(rng, n, cfg, well_params[ph.INDEX["clustering"]])
        n = len(y)
        cells, responder = cells[:n], responder[:n]
        imaging = self._imaging(rng, plate, week, plate_c)
        nuclei, bodies, spots, truth = _assemble(rng, cells, y, x, cfg)

        canvas = render.Canvas(cfg.height, cfg.width, pad=max(cfg.body_patch, cfg.nucleus_patch))
        dapi = render.render_nuclei(canvas, nuclei, cfg.nucleus_patch, imaging)
        dapi += render.render_spots(canvas, spots, cfg.spot_patch, imaging)
        tubulin, actin = render.render_bodies(canvas, bodies, cfg.body_patch, imaging)
        image = render.acquire([dapi, tubulin, actin], imaging, rng)
        truth_out = FieldTruth(
            compound=row["compound"],
            concentration=float(row["concentration"]),
            effect=effect,
            n_cells=n,
            nucleus_y=truth["y"],
            nucleus_x=truth["x"],
            nucleus_area=truth["area"],
            mitotic=truth["mitotic"],
            responder=responder,
            extra={"well_params": well_params, "n_spots": len(spots.y)},
        )
        return image, truth_out

    def _imaging(self, rng, plate: str, week: WeekConditions, plate_c: PlateConditions) -> Imaging:
        return render.Imaging(
            offset=week.offset,
            background=week.background,
            gain=week.gain * plate_c.gain * np.exp(rng.normal(0, 0.02, 3)),
            illumination=self.illumination(plate),
            edge=week.edge,
            texture=week.texture,
            shot=1.2,
            read=5.0,
        )


def _positions(rng: np.random.Generator, n: int, cfg: SynthConfig, clustering: float):
    """Up to n cell centres: uniform or around colony centres, nuclei kept apart."""
    if n == 0:
        return np.zeros(0), np.zeros(0)
    margin = CELL_RADIUS * cfg.cell_scale * 0.8
    low = np.array([-margin, -margin])
    high = np.array([cfg.height + margin, cfg.width + margin])
    m = 2 * n + 8
    points = rng.uniform(low, high, (m, 2))
    clustered = rng.uniform(size=m) < clustering
    n_colonies = max(1, n // 12)
    colonies = rng.uniform(low, high, (n_colonies, 2))
    members = colonies[rng.integers(n_colonies, size=m)] + rng.normal(0, 2.2 * CELL_RADIUS * cfg.cell_scale, (m, 2))
    points = np.where(clustered[:, None], members, points)
    points = np.clip(points, low, high)
    min_distance = 2.3 * NUCLEUS_RADIUS * cfg.cell_scale
    pairs = cKDTree(points).query_pairs(min_distance, output_type="ndarray")
    keep = np.ones(m, dtype=bool)
    keep[pairs.max(axis=1)] = False
    points = points[keep][:n]
    return points[:, 0], points[:, 1]


def _assemble(rng: np.random.Generator, cells: np.ndarray, y: np.ndarray, x: np.ndarray, cfg: SynthConfig):
    """Nuclei, cell bodies and micronuclei of n cells with parameters `cells` (n, len(PARAMS))."""
    n = len(y)
    params = {name: cells[:, i].copy() for name, i in ph.INDEX.items()}
    mitotic = rng.uniform(size=n) < params["p_mitotic"]
    ring = mitotic & (rng.uniform(size=n) < params["p_ring"])
    multinuc = ~mitotic & (rng.uniform(size=n) < params["p_multinuc"])
    n_spots = rng.poisson(params["micronuclei"])

    # Mitotic cells round up, condense their chromatin and reorganise the cytoskeleton.
    m = mitotic.astype(float)
    params["cell_size"] -= 0.35 * m
    params["cell_aspect"] *= 1 - 0.8 * m
    params["cell_irreg"] *= 1 - 0.7 * m
    params["nuc_size"] -= np.where(ring, 0.05, 0.3) * m
    params["nuc_aspect"] *= 1 - 0.5 * m
    params["dna"] += np.where(ring, 0.3, 0.55) * m
    params["chromatin"] += 0.35 * m
    params["tub_fibre"] *= 1 - 0.7 * m
    params["tub_peri"] += 0.5 * m
    params["act_cortical"] += 0.5 * m
    params["act_fibre"] *= 1 - 0.7 * m
    params["cell_size"] += 0.15 * multinuc
    params["nuc_size"] -= 0.12 * multinuc

    s = cfg.cell_scale
    angle = rng.uniform(0, np.pi, n)
    cell_r = CELL_RADIUS * s * np.exp(params["cell_size"])
    cell_a = cell_r * np.exp(params["cell_aspect"] / 2)
    cell_b = cell_r * np.exp(-params["cell_aspect"] / 2)
    nuc_r = NUCLEUS_RADIUS * s * np.exp(params["nuc_size"])
    nuc_a = nuc_r * np.exp(params["nuc_aspect"] / 2)
    nuc_b = nuc_r * np.exp(-params["nuc_aspect"] / 2)
    limit = cfg.body_patch / 2 - 4
    cell_a = np.clip(np.maximum(cell_a, 1.35 * nuc_a), 2, limit)
    cell_b = np.clip(np.maximum(cell_b, 1.35 * nuc_b), 2, limit)
    nuc_limit = cfg.nucleus_patch / 2 - 3
    nuc_a = np.minimum(nuc_a, nuc_limit)
    nuc_b = np.minimum(nuc_b, nuc_limit)
    nuc_angle = angle + rng.normal(0, 0.3, n)
    textures_cell = rng.integers(0, 1 << 16, n)
    harm_weights = np.array([1.0, 1.0, 0.6, 0.6])
    cell_h = rng.normal(0, 1, (n, 4)) * harm_weights * params["cell_irreg"][:, None]
    nuc_h = rng.normal(0, 1, (n, 4)) * harm_weights * params["nuc_irreg"][:, None]
    intensity = CHANNEL_LEVELS[0] * np.exp(params["dna"])

    # Two nuclei side by side along the cell's axis in multinucleated cells.
    offset = np.where(multinuc, 0.7 * nuc_a, 0.0)
    ny = np.concatenate([y + offset * np.sin(nuc_angle), (y - offset * np.sin(nuc_angle))[multinuc]])
    nx = np.concatenate([x + offset * np.cos(nuc_angle), (x - offset * np.cos(nuc_angle))[multinuc]])
    sel = np.concatenate([np.arange(n), np.flatnonzero(multinuc)])
    nuclei = render.Nuclei(
        y=ny,
        x=nx,
        a=nuc_a[sel],
        b=nuc_b[sel],
        angle=nuc_angle[sel],
        harmonics=np.concatenate(
            [nuc_h, rng.normal(0, 1, (int(multinuc.sum()), 4)) * harm_weights * params["nuc_irreg"][multinuc, None]]
        ),
        intensity=intensity[sel],
        chromatin=params["chromatin"][sel],
        ring=ring.astype(float)[sel],
        texture=np.concatenate([textures_cell, rng.integers(0, 1 << 16, int(multinuc.sum()))]),
    )
    bodies = render.Bodies(
        y=y,
        x=x,
        a=cell_a,
        b=cell_b,
        angle=angle,
        harmonics=cell_h,
        nuc_a=nuc_a * np.where(multinuc, 1.6, 1.0),
        nuc_b=nuc_b,
        tub_level=CHANNEL_LEVELS[1] * np.exp(params["tub_level"]),
        tub_fibre=params["tub_fibre"],
        tub_bundle=params["tub_bundle"],
        tub_peri=params["tub_peri"],
        act_level=CHANNEL_LEVELS[2] * np.exp(params["act_level"]),
        act_fibre=params["act_fibre"],
        act_cortical=params["act_cortical"],
        act_puncta=params["act_puncta"],
        texture=textures_cell,
    )
    parent = np.repeat(np.arange(n), n_spots)
    theta = rng.uniform(0, 2 * np.pi, len(parent))
    distance = nuc_a[parent] * rng.uniform(1.15, 1.8, len(parent)) + 2 * s
    spots = render.Spots(
        y=y[parent] + distance * np.sin(theta),
        x=x[parent] + distance * np.cos(theta),
        r=NUCLEUS_RADIUS * s * rng.uniform(0.2, 0.35, len(parent)),
        intensity=intensity[parent] * rng.uniform(0.7, 1.1, len(parent)),
    )
    truth = {"y": ny, "x": nx, "area": np.pi * nuc_a[sel] * nuc_b[sel], "mitotic": mitotic}
    return nuclei, bodies, spots, truth


def bank_warmup(config: SynthConfig) -> None:
    """Build the texture banks for a configuration (done once per process; workers call this
    before timing-sensitive work)."""
    textures.granular(config.nucleus_patch)
    textures.radial_fibres(config.body_patch)
    textures.radial_fibres(config.body_patch, width=1.8, length=10.0)
    textures.oriented_fibres(config.body_patch)
    textures.puncta(config.body_patch)
    textures.granular(config.body_patch, grain=4.0)


def recommended_roi(config: SynthConfig) -> tuple[int, int]:
    """(ROI side, minimum nucleus size in px) for images of this configuration.

    At cell_scale 1 the original's 128 px ROI and 200 px minimum fit the simulated cells (nuclei of
    ~350 px). Both scale with the cells (ROI to a multiple of 16, minimum with the area), and the ROI
    is capped at a quarter of the image's short side so small test images (e.g. 256 x 320: ROI 64)
    still keep most cells inside the ROI edge rule."""
    side = max(32, 16 * round(128 * config.cell_scale / 16))
    cap = max(32, 16 * (min(config.height, config.width) // 4 // 16))
    return min(side, cap), max(1, int(round(200 * config.cell_scale**2)))
