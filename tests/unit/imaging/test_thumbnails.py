import io

import numpy as np
from PIL import Image

from bioims.imaging.normalize import normalize_for_thumbnail
from bioims.imaging.palette import channel_colors, husl_palette
from bioims.imaging.params import ArtifactParameters
from bioims.imaging.thumbnails import colour_mip, colour_mip_raw, render_thumbnails, thumbnail_size
from tests.unit.imaging import original_loops as original
from tests.unit.imaging.synthetic import synthetic_field


def test_channel_colours_are_the_originals_husl_entries():
    # docs/original.md §4.0: entries 0, 33 and 66 of seaborn's husl palette of 100
    np.testing.assert_allclose(
        channel_colors(3), [[0.968, 0.441, 0.536], [0.335, 0.690, 0.192], [0.231, 0.643, 0.904]], atol=6e-4
    )
    palette = husl_palette()
    assert palette.shape == (100, 3) and palette.min() >= 0 and palette.max() <= 1
    np.testing.assert_array_equal(channel_colors(1), palette[[0]])
    np.testing.assert_array_equal(channel_colors(4), palette[[0, 25, 50, 75]])


def test_colour_mip_equals_the_per_pixel_loop():
    rng = np.random.default_rng(0)
    channels = [rng.random((2, 20, 25)) * (rng.random((2, 20, 25)) < 0.7) for _ in range(3)]
    channels[1][:, :5] = channels[0][:, :5]  # ties go to the earlier channel
    for ch in channels:
        ch[:, -3:, -3:] = 0.0  # black pixels
    colors = channel_colors(3)
    np.testing.assert_array_equal(colour_mip(channels, colors), original.calc_mip(np.stack(channels), colors))


def test_thumbnails_equal_the_originals_default_artifact():
    field = synthetic_field(3, shape=(40, 50))
    mip_ref, images_ref = original.default_artifact(field)
    mip = colour_mip([normalize_for_thumbnail(raw) for raw in field])
    assert np.abs(mip.astype(int) - mip_ref).max() <= 1  # float summation order only
    assert (mip != mip_ref).mean() < 1e-3
    rendered = render_thumbnails(field)
    assert set(rendered) == {"thumbnail-2d.png", "medium-2d.png"}
    for name, ref in zip(("thumbnail-2d.png", "medium-2d.png"), images_ref, strict=True):
        image = Image.open(io.BytesIO(rendered[name]))
        assert image.format == "PNG" and image.size == ref.size
        assert np.abs(np.asarray(image, dtype=int) - np.asarray(ref, dtype=int)).max() <= 2


def test_thumbnail_sizes_follow_the_long_side():
    assert thumbnail_size(1024, 1280, 100) == (100, 80)
    assert thumbnail_size(1024, 1280, 1000) == (1000, 800)
    assert thumbnail_size(1280, 1024, 100) == (80, 100)
    assert thumbnail_size(10, 4000, 100) == (100, 1)


def test_custom_artifact_names_and_formats():
    field = synthetic_field(4, shape=(30, 40))
    out = render_thumbnails(field, ArtifactParameters(names=("small.jpg",), sizes=(20,)))
    image = Image.open(io.BytesIO(out["small.jpg"]))
    assert image.format == "JPEG" and image.size == (20, 15)


def test_black_image_gives_a_black_thumbnail():
    black = [np.zeros((1, 16, 20), dtype=np.uint16) for _ in range(3)]
    image = Image.open(io.BytesIO(render_thumbnails(black)["thumbnail-2d.png"]))
    assert not np.asarray(image).any()


def test_level_table_mip_equals_the_definition_on_stacks_ties_and_both_depths():
    rng = np.random.default_rng(3)
    for trial in range(12):
        dtype, top = (np.uint8, 256) if trial % 2 else (np.uint16, int(rng.integers(20, 65536)))
        depth, n = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        channels = [rng.integers(0, top, (depth, 24, 30)).astype(dtype) for _ in range(n)]
        if n > 1:
            channels[1][:, :6] = channels[0][:, :6]  # equal values: the earlier channel wins
        channels[0][:, -2:, -2:] = 0
        expected = colour_mip([normalize_for_thumbnail(raw) for raw in channels])
        np.testing.assert_array_equal(colour_mip_raw(channels), expected)


def test_fast_png_encoding_decodes_to_the_default_levels_pixels():
    field = synthetic_field(3, shape=(64, 80))
    mip = colour_mip([normalize_for_thumbnail(raw) for raw in field])
    for name, data in render_thumbnails(field).items():
        size = 100 if name.startswith("thumbnail") else 1000
        width, height = thumbnail_size(*mip.shape[:2], size)
        buffer = io.BytesIO()
        Image.fromarray(mip).resize((width, height), Image.Resampling.BICUBIC).save(buffer, format="PNG")
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(Image.open(buffer)))
