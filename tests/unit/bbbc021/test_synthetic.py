"""The synthetic BBBC021: determinism, the real design, phenotypes that follow MOA and dose,
batch effects, and a directory that looks like a real copy."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from skimage.filters import threshold_otsu

from bioims.bbbc021 import csvs, layout
from bioims.bbbc021.design import Design, load_design_from_dir
from bioims.bbbc021.synthetic.generate import SynthError, generate
from bioims.bbbc021.synthetic.model import SynthConfig, SyntheticBbbc021, recommended_roi

PLATE = "Week1_22123"  # DMSO B02/C02/D02/E11/F11/G11, nocodazole row E, taxol row D, AZ-A row G


@pytest.fixture(scope="module")
def small(design: Design) -> SyntheticBbbc021:
    return SyntheticBbbc021(SynthConfig(seed=7, height=256, width=320), design)


def _nuclei(dapi: np.ndarray, min_size: int = 200) -> np.ndarray:
    """Areas of Otsu-segmented DAPI objects of at least `min_size` px (the pipeline's rule)."""
    x = dapi.astype(float)
    mask = ndimage.binary_opening(x > threshold_otsu(x))
    labels, n = ndimage.label(mask)
    areas = np.bincount(labels.ravel())[1:]
    return areas[areas >= min_size]


def test_deterministic_and_order_independent(design: Design, small: SyntheticBbbc021):
    first = small.render(PLATE, "E05", 2)
    other = SyntheticBbbc021(SynthConfig(seed=7, height=256, width=320), design)
    other.render("Week9_39206", "B02", 1)  # another plate and week first: caches must not leak
    assert np.array_equal(other.render(PLATE, "E05", 2), first)
    assert first.shape == (3, 256, 320) and first.dtype == np.uint16
    reseeded = SyntheticBbbc021(SynthConfig(seed=8, height=256, width=320), design)
    assert not np.array_equal(reseeded.render(PLATE, "E05", 2), first)
    assert not np.array_equal(small.render(PLATE, "E05", 3), first)


def test_full_size_field_segments_like_bbbc021(design: Design):
    world = SyntheticBbbc021(SynthConfig(seed=1), design)
    image, truth = world.render_with_truth(PLATE, "B02", 1)
    assert image.shape == (3, 1024, 1280)
    assert 60 <= truth.n_cells <= 250
    areas = _nuclei(image[0])
    # Most simulated nuclei become >= 200 px objects under Otsu, as the ROI pipeline needs.
    assert 0.6 * truth.n_cells <= len(areas) <= 1.1 * truth.n_cells
    assert 250 <= np.median(areas) <= 600
    for channel in image:
        assert channel.min() > 0 and channel.max() < 65535  # background offset, no saturation


def test_cell_count_scales_with_area(design: Design):
    wells = ["B02", "C02", "D02", "E11", "F11", "G11"]
    counts = {}
    for h, w in ((256, 320), (512, 640)):
        world = SyntheticBbbc021(SynthConfig(seed=3, height=h, width=w), design)
        counts[h] = np.mean([world.render_with_truth(PLATE, well, s)[1].n_cells for well in wells for s in (1, 2)])
    assert 3.0 <= counts[512] / counts[256] <= 5.3
    scaled = SyntheticBbbc021(SynthConfig(seed=3, height=256, width=320, cell_scale=0.5), design)
    half = np.mean([scaled.render_with_truth(PLATE, well, 1)[1].n_cells for well in wells])
    assert half > 2.5 * counts[256] / 2  # four times as many cells of half the size fit


def test_dose_response(small: SyntheticBbbc021, design: Design):
    moa = design.moa_table
    for compound in ("taxol", "nocodazole", "AZ-A", "emetine"):
        profile = small.profile(compound)
        annotated = moa.loc[moa["compound"] == compound, "concentration"].min()
        assert 0.6 <= profile.effect(annotated) <= 0.95
        assert profile.effect(annotated / 300) < 0.05  # low doses look like DMSO
        assert profile.effect(annotated * 10) > profile.effect(annotated)
    assert small.profile("DMSO").effect(0.0) == 0.0
    # Compounds of one MOA vary around it; different MOAs differ more.
    a, b, c = (small.profile(x).delta for x in ("nocodazole", "colchicine", "taxol"))
    assert np.linalg.norm(a - b) < np.linalg.norm(a - c)


def test_morphology_follows_moa(design: Design):
    world = SyntheticBbbc021(SynthConfig(seed=11, height=512, width=640), design)

    def nuclei(well: str) -> np.ndarray:
        return np.concatenate([_nuclei(world.render(PLATE, well, s)[0], 100) for s in (1, 2, 3, 4)])

    dmso = np.concatenate([nuclei(w) for w in ("B02", "C02")])
    nocodazole = nuclei("E03")  # 3 µM: mitotic arrest, condensed chromatin
    aurora = nuclei("G03")  # AZ-A 30 µM: polyploid, larger nuclei
    assert np.median(nocodazole) < 0.85 * np.median(dmso)
    assert np.median(aurora) > 1.2 * np.median(dmso)
    # Low doses look like DMSO.
    low = nuclei("E10")  # nocodazole 0.001 µM
    assert 0.85 < np.median(low) / np.median(dmso) < 1.15


def test_batch_effects_and_illumination(design: Design):
    world = SyntheticBbbc021(SynthConfig(seed=5, height=128, width=160), design)
    plates = {
        "Week1": ("Week1_22123", "Week1_22141"),
        "Week4": ("Week4_27481", "Week4_27521"),
        "Week8": ("Week8_38203", "Week8_38221"),
    }
    level = {p: np.median(world.render(p, "B02", 1)[1]) for ps in plates.values() for p in ps}
    within = np.mean([abs(level[a] - level[b]) for a, b in plates.values()])
    weeks = [np.mean([level[p] for p in ps]) for ps in plates.values()]
    assert np.ptp(weeks) > 2 * within  # weeks differ more than plates of one week
    mean = np.mean(
        [world.render("Week1_22123", w, s)[2].astype(float) for w in ("B02", "C02", "D02") for s in (1, 2)], axis=0
    )
    centre = mean[48:80, 64:96].mean()
    corners = np.mean([mean[:16, :16].mean(), mean[:16, -16:].mean(), mean[-16:, :16].mean(), mean[-16:, -16:].mean()])
    assert corners < 0.97 * centre  # uneven illumination, brighter in the middle


def test_config_validation():
    for bad in ({"seed": -1}, {"height": 10}, {"fields_per_well": 5}, {"cell_scale": 0}, {"width": 1.5}):
        with pytest.raises(ValueError):
            SynthConfig(**bad)
    assert recommended_roi(SynthConfig()) == (128, 200)
    assert recommended_roi(SynthConfig(height=256, width=320)) == (64, 200)
    assert recommended_roi(SynthConfig(height=256, width=320, cell_scale=0.5)) == (64, 50)


def test_generate_writes_a_bbbc021_copy(tmp_path, design: Design):
    config = SynthConfig(seed=2, height=64, width=80, fields_per_well=1)
    out = tmp_path / "bbbc021"
    calls = []
    report = generate(out, config, [PLATE], progress=lambda done, total: calls.append((done, total)))
    assert report.fields_written == report.fields_total == 60 and calls[-1] == (60, 60)
    rows = design.plate_fields(PLATE)
    rows = rows[rows["site"] == 1]
    for row in rows.itertuples():
        for channel in layout.CHANNELS:
            image = tifffile.imread(out / PLATE / getattr(row, f"file_{channel}"))
            assert image.shape == (64, 80) and image.dtype == np.uint16
    # The CSVs are published bytes: the MOA file whole, the image file line by line.
    assert (out / layout.MOA_CSV).read_bytes() == csvs.packaged_path(layout.MOA_CSV).read_bytes()
    with gzip.open(csvs.packaged_path(layout.IMAGE_CSV_GZ), "rt", newline="") as handle:
        published = handle.read().splitlines(keepends=True)
    written = (out / layout.IMAGE_CSV).read_text().splitlines(keepends=True)
    assert written[0] == published[0] and len(written) == 61 and set(written[1:]) <= set(published[1:])
    local = load_design_from_dir(out)
    assert local.plates == (PLATE,) and len(local.fields) == 60
    # Same pixels as rendering in memory, and as generating alongside another plate.
    world = SyntheticBbbc021(config, design)
    row = rows.iloc[5]
    expected = world.render(PLATE, row["well"], 1)
    assert np.array_equal(tifffile.imread(out / PLATE / row["file_actin"]), expected[2])
    both = generate(tmp_path / "both", config, ["Week2_24121", PLATE])
    assert both.fields_written == 120
    assert (tmp_path / "both" / PLATE / row["file_dapi"]).read_bytes() == (out / PLATE / row["file_dapi"]).read_bytes()


def test_generate_resumes_and_refuses_mixing(tmp_path):
    config = SynthConfig(seed=2, height=64, width=80, fields_per_well=1)
    out = tmp_path / "bbbc021"
    generate(out, config, [PLATE])
    victim = sorted((out / PLATE).iterdir())[7]
    original = victim.read_bytes()
    victim.unlink()
    (out / PLATE / "junk.tif.tmp-123").write_bytes(b"half-written")
    report = generate(out, config, [PLATE])
    assert (report.fields_written, report.fields_skipped) == (1, 59)
    assert victim.read_bytes() == original
    assert not list((out / PLATE).glob("*.tmp-*"))
    with pytest.raises(SynthError, match="refusing to mix"):
        generate(out, SynthConfig(seed=3, height=64, width=80, fields_per_well=1), [PLATE])
    foreign = tmp_path / "foreign"
    (foreign / "something").mkdir(parents=True)
    with pytest.raises(SynthError, match="not empty"):
        generate(foreign, config, [PLATE])
    with pytest.raises(SynthError, match="not in the BBBC021 design"):
        generate(tmp_path / "new", config, ["Week1_00000"])
    assert not (tmp_path / "new").exists()
