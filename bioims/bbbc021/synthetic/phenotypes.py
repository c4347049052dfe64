"""Phenotypes of the synthetic BBBC021: what a compound at a concentration does to a cell.

A cell is described by the parameters in PARAMS (sizes and shapes of nucleus and cell, DNA, tubulin
and actin patterns, probabilities of mitotic arrest, monopolar rings, micronuclei and
multinucleation, and well-level density and clustering). DMSO gives the baseline BASELINE; each of
the 12 MOAs moves the baseline along MOA_EFFECTS, chosen after the published descriptions of the
BBBC021 classes and deliberately overlapping (mitotic arrest is shared by Eg5 inhibitors and both
microtubule classes; enlarged nuclei by Aurora, DNA damage and DNA replication; small sparse cells by
protein synthesis and degradation; elongation by kinase inhibitors and statins).

Compounds vary inside an MOA: each gets a potency, its own random deviation from the MOA's effect
(COMPOUND_SPREAD of the typical effect size per parameter) and a Hill dose response whose EC50
lies below its lowest annotated concentration, so annotated treatments show the phenotype and low
doses look like DMSO. Compounds without an annotated MOA get a random blend of MOA effects or none.
Everything is a function of (seed, compound name): the same seed gives the same world.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Final

import numpy as np

from bioims.bbbc021 import layout

# name: (baseline, kind, lower bound, upper bound). kind "log": a log-multiplier; "frac": a
# fraction/probability/contrast clipped to [lower, upper].
_SPEC: Final[dict[str, tuple[float, str, float, float]]] = {
    "nuc_size": (0.0, "log", -0.8, 0.9),
    "nuc_aspect": (0.18, "log", 0.0, 1.2),
    "nuc_irreg": (0.05, "frac", 0.0, 0.45),
    "dna": (0.0, "log", -0.8, 1.0),
    "chromatin": (0.25, "frac", 0.0, 1.0),
    "cell_size": (0.0, "log", -0.8, 0.8),
    "cell_aspect": (0.3, "log", 0.0, 1.4),
    "cell_irreg": (0.16, "frac", 0.0, 0.45),
    "tub_level": (0.0, "log", -1.0, 1.0),
    "tub_fibre": (0.55, "frac", 0.0, 1.0),
    "tub_bundle": (0.05, "frac", 0.0, 1.0),
    "tub_peri": (0.35, "frac", 0.0, 1.2),
    "act_level": (0.0, "log", -1.0, 1.0),
    "act_fibre": (0.5, "frac", 0.0, 1.0),
    "act_cortical": (0.3, "frac", 0.0, 1.2),
    "act_puncta": (0.05, "frac", 0.0, 1.0),
    "p_mitotic": (0.03, "frac", 0.0, 0.9),
    "p_ring": (0.0, "frac", 0.0, 1.0),
    "micronuclei": (0.04, "frac", 0.0, 2.5),
    "p_multinuc": (0.02, "frac", 0.0, 0.7),
    "density": (0.0, "log", -1.5, 0.7),
    "clustering": (0.35, "frac", 0.0, 0.95),
}
PARAMS: Final[tuple[str, ...]] = tuple(_SPEC)
INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(PARAMS)}
BASELINE: Final = np.array([_SPEC[p][0] for p in PARAMS])
LOWER: Final = np.array([_SPEC[p][2] for p in PARAMS])
UPPER: Final = np.array([_SPEC[p][3] for p in PARAMS])
# Typical size of an effect per parameter: the unit of compound, well and cell variation.
SCALE: Final = np.array([0.3 if _SPEC[p][1] == "log" else 0.25 for p in PARAMS])
SCALE[INDEX["micronuclei"]] = 0.5
SCALE[INDEX["p_mitotic"]] = 0.2
SCALE[INDEX["p_ring"]] = 0.3
SCALE[INDEX["p_multinuc"]] = 0.15

# Per-MOA change from the DMSO baseline at full effect (unlisted parameters: 0).
MOA_EFFECTS: Final[dict[str, dict[str, float]]] = {
    "Actin disruptors": {
        "act_fibre": -0.45,
        "act_puncta": 0.65,
        "act_cortical": -0.15,
        "act_level": 0.15,
        "cell_size": -0.2,
        "cell_irreg": 0.15,
        "p_multinuc": 0.2,
        "tub_fibre": -0.1,
    },
    "Aurora kinase inhibitors": {
        "nuc_size": 0.35,
        "dna": 0.3,
        "nuc_irreg": 0.12,
        "p_multinuc": 0.12,
        "micronuclei": 0.5,
        "cell_size": 0.3,
        "density": -0.45,
        "chromatin": 0.1,
    },
    "Cholesterol-lowering": {
        "cell_aspect": 0.3,
        "cell_size": -0.1,
        "act_fibre": -0.15,
        "act_cortical": 0.1,
        "density": -0.15,
        "tub_peri": 0.15,
        "chromatin": 0.05,
    },
    "DNA damage": {
        "nuc_size": 0.22,
        "nuc_irreg": 0.1,
        "micronuclei": 0.8,
        "chromatin": 0.2,
        "cell_size": 0.25,
        "density": -0.35,
        "act_fibre": 0.15,
        "dna": 0.1,
    },
    "DNA replication": {
        "nuc_size": 0.16,
        "dna": 0.2,
        "chromatin": 0.12,
        "micronuclei": 0.3,
        "cell_size": 0.15,
        "density": -0.4,
        "tub_fibre": 0.08,
        "nuc_aspect": -0.08,
    },
    "Eg5 inhibitors": {
        "p_mitotic": 0.65,
        "p_ring": 0.85,
        "cell_size": -0.15,
        "cell_aspect": -0.15,
        "tub_peri": 0.3,
        "tub_fibre": -0.15,
        "act_cortical": 0.15,
    },
    "Epithelial": {
        "clustering": 0.5,
        "cell_size": 0.1,
        "cell_aspect": -0.15,
        "act_cortical": 0.4,
        "act_fibre": -0.2,
        "density": 0.15,
        "nuc_size": -0.05,
        "cell_irreg": -0.06,
    },
    "Kinase inhibitors": {
        "cell_aspect": 0.35,
        "act_fibre": 0.2,
        "act_puncta": 0.15,
        "tub_fibre": 0.1,
        "nuc_aspect": 0.12,
        "density": -0.1,
        "cell_irreg": 0.08,
    },
    "Microtubule destabilizers": {
        "p_mitotic": 0.6,
        "p_ring": 0.1,
        "tub_fibre": -0.45,
        "tub_level": -0.1,
        "tub_peri": -0.2,
        "cell_size": -0.2,
        "cell_aspect": -0.15,
        "micronuclei": 0.45,
        "nuc_irreg": 0.15,
        "act_cortical": 0.15,
    },
    "Microtubule stabilizers": {
        "p_mitotic": 0.4,
        "tub_bundle": 0.7,
        "tub_fibre": 0.2,
        "tub_level": 0.2,
        "micronuclei": 0.6,
        "nuc_irreg": 0.2,
        "cell_size": -0.05,
        "p_multinuc": 0.1,
    },
    "Protein degradation": {
        "tub_peri": 0.55,
        "cell_size": -0.15,
        "act_puncta": 0.2,
        "nuc_size": -0.05,
        "dna": 0.1,
        "density": -0.3,
        "tub_fibre": -0.15,
        "chromatin": 0.1,
    },
    "Protein synthesis": {
        "cell_size": -0.25,
        "nuc_size": -0.1,
        "tub_level": -0.25,
        "act_level": -0.25,
        "density": -0.35,
        "chromatin": -0.05,
        "tub_fibre": -0.1,
        "act_fibre": -0.1,
    },
}
BASELINE_LABEL: Final = layout.DMSO

COMPOUND_SPREAD: Final = 0.35  # compound deviation inside an MOA, in units of SCALE
POTENCY_RANGE: Final = (0.75, 1.2)  # multiplier of the MOA effect per compound
HILL_RANGE: Final = (1.2, 2.2)
UNANNOTATED_NULL_FRACTION: Final = 0.4  # unannotated compounds with no phenotype at all


def effect_vector(moa: str) -> np.ndarray:
    """The full-effect change of an MOA as a vector over PARAMS; KeyError for an unknown MOA."""
    if moa == BASELINE_LABEL:
        return np.zeros(len(PARAMS))
    try:
        effects = MOA_EFFECTS[moa]
    except KeyError:
        raise KeyError(f"no synthetic phenotype for MOA {moa!r}") from None
    vector = np.zeros(len(PARAMS))
    for name, value in effects.items():
        vector[INDEX[name]] = value
    return vector


def clip_params(values: np.ndarray) -> np.ndarray:
    """Parameters (..., len(PARAMS)) clipped to their valid ranges."""
    return np.clip(values, LOWER, UPPER)


def stable_hash(*parts: str | int) -> int:
    """A 32-bit hash that is the same in every process (Python's hash() is salted)."""
    return zlib.crc32("\x1f".join(str(p) for p in parts).encode("utf-8"))


@dataclass(frozen=True)
class CompoundProfile:
    """What one compound does: full-effect change `delta` over PARAMS and its dose response."""

    compound: str
    moa: str | None
    delta: np.ndarray
    ec50: float  # µM
    hill: float

    def effect(self, concentration: float | np.ndarray) -> np.ndarray:
        """Fraction of the full effect at `concentration` (µM): Hill curve, 0 at 0."""
        c = np.asarray(concentration, dtype=float)
        if not np.any(self.delta):
            return np.zeros_like(c)
        ratio = np.power(np.maximum(c, 0.0) / self.ec50, self.hill)
        return ratio / (1.0 + ratio)


def compound_profile(
    seed: int,
    compound: str,
    moa: str | None,
    concentrations: np.ndarray,
    annotated_concentrations: np.ndarray,
) -> CompoundProfile:
    """The profile of one compound in the world of `seed`.

    `concentrations`: all concentrations the design uses for the compound; `annotated_concentrations`:
    those the MOA table annotates (empty for unannotated compounds). DMSO has no effect.
    """
    rng = np.random.default_rng([seed, 11, stable_hash(compound)])
    if compound == layout.DMSO:
        return CompoundProfile(compound, layout.DMSO, np.zeros(len(PARAMS)), 1.0, 1.0)
    hill = float(rng.uniform(*HILL_RANGE))
    noise = rng.normal(0.0, COMPOUND_SPREAD, len(PARAMS)) * SCALE
    positive = np.asarray(concentrations, dtype=float)
    positive = positive[positive > 0]
    if moa is not None and moa != layout.DMSO:
        potency = rng.uniform(*POTENCY_RANGE)
        delta = potency * effect_vector(moa) + noise
        lowest = (
            float(np.min(annotated_concentrations)) if len(annotated_concentrations) else float(np.median(positive))
        )
        # The lowest annotated dose shows 65-90% of the full effect.
        target = rng.uniform(0.65, 0.9)
        ec50 = lowest / (target / (1 - target)) ** (1 / hill)
        return CompoundProfile(compound, moa, delta, float(ec50), hill)
    # Unannotated compound: no phenotype, or a blend of one or two MOA effects plus its own.
    if rng.uniform() < UNANNOTATED_NULL_FRACTION or positive.size == 0:
        return CompoundProfile(compound, None, np.zeros(len(PARAMS)), 1.0, hill)
    names = sorted(MOA_EFFECTS)
    picks = rng.choice(len(names), size=2, replace=False)
    weights = rng.dirichlet([1.0, 1.0]) * rng.uniform(0.3, 1.0)
    delta = sum(w * effect_vector(names[i]) for w, i in zip(weights, picks, strict=True)) + noise
    log_c = np.log10(positive)
    ec50 = 10 ** rng.uniform(log_c.min(), log_c.max())
    return CompoundProfile(compound, None, delta, float(ec50), hill)
