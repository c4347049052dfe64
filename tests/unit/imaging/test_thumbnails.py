import io
import os
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bioims.imaging import png, thumbnails
from bioims.imaging.normalize import normalize_for_thumbnail
from bioims.imaging.palette import channel_colors, husl_palette
from bioims.imaging.params import ArtifactParameters
from bioims.imaging.thumbnails import (
    REDUCING_GAP,
    Scratch,
    colour_mip,
    colour_mip_raw,
    colour_mip_rgbx,
    encode,
    mapped_rgb_image,
    render_thumbnails,
    rgb_image,
    thumbnail_size,
)
from tests.unit.imaging import original_loops as original
from tests.unit.imaging import previous_thumbnails as previous
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


@pytest.fixture(scope="module")
def real_size_fields() -> dict[str, list[np.ndarray]]:
    """BBBC021-size (1024 x 1280) synthetic fields: two uint16, one uint8."""
    shape = (1024, 1280)
    return {
        "a": synthetic_field(0, shape, nuclei=120, nucleus_radius=20),
        "b": synthetic_field(1, shape, nuclei=150, nucleus_radius=16),
        "u8": synthetic_field(2, shape, nuclei=120, nucleus_radius=20, dtype=np.uint8),
    }


REAL_SIZE_CASES = {
    "3 x uint16": lambda f: f["a"],
    "3 x uint8": lambda f: f["u8"],
    "1 channel": lambda f: f["a"][:1],
    "2 channels": lambda f: f["b"][:2],
    "4 channels": lambda f: [*f["a"], f["b"][0]],
    "uint16 z-stacks of 3": lambda f: [np.concatenate([a, b, a[:, ::-1]]) for a, b in zip(f["a"], f["b"], strict=True)],
    "uint8 z-stacks of 2, 2 channels": lambda f: [np.concatenate([u, u[:, :, ::-1]]) for u in f["u8"][:2]],
    "an all-zero channel": lambda f: [f["a"][0], np.zeros_like(f["a"][1]), f["a"][2]],
    "a constant channel": lambda f: [f["a"][0], np.full_like(f["a"][1], 777), f["a"][2]],
    "every channel all zero": lambda f: [np.zeros_like(c) for c in f["a"]],
    "every channel constant (uint8)": lambda f: [np.full_like(c, 9) for c in f["u8"]],
    "two equal channels (ties)": lambda f: [f["b"][1], f["b"][1], f["b"][0]],
}


@pytest.mark.parametrize("case", REAL_SIZE_CASES)
def test_thumbnails_decode_to_the_previous_implementations_pixels_on_real_size_fields(real_size_fields, case):
    channels = REAL_SIZE_CASES[case](real_size_fields)
    np.testing.assert_array_equal(colour_mip_raw(channels), previous.previous_colour_mip_raw(channels))
    today, before = render_thumbnails(channels), previous.previous_render_thumbnails(channels)
    assert set(today) == set(before) == {"thumbnail-2d.png", "medium-2d.png"}
    mip = colour_mip_raw(channels)  # the array route (benchmarks/scale.py times it part by part)
    assert {name: encode(mip, size, name) for name, size in ArtifactParameters().pairs()} == today
    for name, data in today.items():
        image = Image.open(io.BytesIO(data))
        assert image.mode == "RGB" and image.size == ((100, 80) if name == "thumbnail-2d.png" else (1000, 800))
    assert_previous_pixels_as_documented(channels, today, before)


def documented_pixels(channels: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The previous implementation's colour MIP, resized as the module documents: Pillow's bicubic
    with its reducing step (REDUCING_GAP) for downscales of 4x and more."""
    mip = Image.fromarray(np.ascontiguousarray(previous.previous_colour_mip_raw(channels)))
    out = {}
    for name, size in ArtifactParameters().pairs():
        width, height = thumbnail_size(mip.height, mip.width, size)
        out[name] = np.asarray(mip.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=REDUCING_GAP))
    return out


def assert_previous_pixels_as_documented(channels, today: dict[str, bytes], before: dict[str, bytes]) -> None:
    """Today's thumbnails decode to the documented pixels; where no reducing step applies (no
    downscale of 4x or more: the 1000-px image of a real-size field) they equal the previous
    implementation's exactly, and where it applies they stay within a few grey levels of them."""
    expected, now, previous_pixels = documented_pixels(channels), _decoded(today), _decoded(before)
    for name, size in ArtifactParameters().pairs():
        np.testing.assert_array_equal(now[name], expected[name])
        height, width = channels[0].shape[-2:]
        if max(height, width) < 2 * REDUCING_GAP * size:
            np.testing.assert_array_equal(now[name], previous_pixels[name])
        else:
            difference = np.abs(now[name].astype(int) - previous_pixels[name].astype(int))
            assert difference.mean() < 1.0 and difference.max() <= 32, (name, difference.mean(), difference.max())


def test_rgb_image_maps_rgbx_pixels_and_rgb_views_of_them():
    rng = np.random.default_rng(5)
    rgbx = rng.integers(0, 256, (30, 40, 4), dtype=np.uint8)
    rgb = rgbx[..., :3]
    for pixels in (rgbx, rgb, np.ascontiguousarray(rgb)):
        image = rgb_image(pixels)
        assert image.mode == "RGB" and image.size == (40, 30)
        np.testing.assert_array_equal(np.asarray(image), rgb)
    # views whose 4th byte is not inside their buffer, or not 4-byte pixels, are copied as they are
    shifted = rgbx[..., 1:]  # 4-byte pixels, but the last one's 4th byte lies past the buffer
    np.testing.assert_array_equal(np.asarray(rgb_image(shifted)), shifted)
    stepped = rgbx[::2, ::2, :3]
    np.testing.assert_array_equal(np.asarray(rgb_image(stepped)), stepped)
    np.testing.assert_array_equal(np.asarray(rgb_image(rgbx[::2, ::2])), stepped)  # RGBX, not contiguous
    for bad in (rgbx[..., :2], rgbx.astype(np.uint16), rgbx[0]):
        with pytest.raises(ValueError, match="RGB image needs"):
            rgb_image(bad)


def test_a_colour_mip_of_no_channels_is_refused():
    with pytest.raises(ValueError, match="at least one channel"):
        colour_mip_rgbx([])


def _decoded(rendered: dict[str, bytes]) -> dict[str, np.ndarray]:
    return {name: np.asarray(Image.open(io.BytesIO(data))) for name, data in rendered.items()}


def test_fields_of_changing_sizes_in_a_row_reuse_the_buffers_and_keep_the_previous_pixels():
    # one thread's scratch arrays are reused and re-made as shapes change: odd sizes, a portrait
    # field, a 1-pixel row, a z-stack, uint8, and a repeat of the first size after the others
    shapes = [(257, 263), (64, 80), (1000, 31), (1, 5), (257, 263), (130, 97), (64, 80)]
    for i, shape in enumerate(shapes):
        field = synthetic_field(10 + i, shape, dtype=np.uint8 if i == 3 else np.uint16)
        if i == 5:
            field = [np.concatenate([raw, raw[:, ::-1]]) for raw in field]
        today = render_thumbnails(field)
        assert today == {name: encode(colour_mip_raw(field), size, name) for name, size in ArtifactParameters().pairs()}
        assert_previous_pixels_as_documented(field, today, previous.previous_render_thumbnails(field))


def test_threads_render_at_once_each_with_its_own_buffers():
    fields = [synthetic_field(20 + i, (200, 240)) for i in range(4)]
    expected = [previous.previous_render_thumbnails(field) for field in fields]
    results: dict[int, list[dict[str, np.ndarray]]] = {}

    def work(i: int) -> None:
        results[i] = [_decoded(render_thumbnails(fields[(i + k) % 4])) for k in range(6)]

    workers = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for i, rendered in results.items():
        for k, got in enumerate(rendered):
            for name, pixels in _decoded(expected[(i + k) % 4]).items():
                np.testing.assert_array_equal(got[name], pixels)
    assert len(results) == 4


def test_mapped_rgb_image_is_a_view_of_the_rgbx_array():
    rgbx = np.random.default_rng(6).integers(0, 256, (30, 40, 4), dtype=np.uint8)
    image = mapped_rgb_image(rgbx)
    assert image.mode == "RGB" and image.size == (40, 30)
    np.testing.assert_array_equal(np.asarray(image), rgbx[..., :3])
    rgbx[2, 3] = (1, 2, 3, 4)  # the image reads the array's memory: no copy was made
    assert tuple(np.asarray(image)[2, 3]) == (1, 2, 3)
    small = image.resize((10, 7), Image.Resampling.BICUBIC)
    copied = rgb_image(rgbx).resize((10, 7), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(np.asarray(small), np.asarray(copied))
    for bad in (rgbx[..., :3], rgbx[::2], rgbx.astype(np.uint16), rgbx[0]):
        with pytest.raises(ValueError, match="mapped RGB image needs"):
            mapped_rgb_image(bad)


def test_without_pils_buffer_mapping_the_image_is_copied(monkeypatch):
    monkeypatch.delattr(Image.core, "map_buffer")
    rgbx = np.random.default_rng(7).integers(0, 256, (12, 9, 4), dtype=np.uint8)
    image = mapped_rgb_image(rgbx)
    rgbx[0, 0] = 0
    assert image.mode == "RGB" and np.asarray(image)[0, 0].any()  # a copy: unchanged
    field = synthetic_field(8, (40, 50))
    assert render_thumbnails(field) == {
        name: encode(colour_mip_raw(field), size, name) for name, size in ArtifactParameters().pairs()
    }


def test_scratch_arrays_are_kept_per_name_and_shape_up_to_a_size(monkeypatch):
    scratch = Scratch()
    a = scratch.array("x", (4, 5))
    assert scratch.array("x", (4, 5)) is a and a.dtype == np.uint8
    assert scratch.array("x", (4, 5), np.uint32) is not a
    b = scratch.array("x", (5, 4))
    assert b is not a and scratch.array("x", (5, 4)) is b
    monkeypatch.setattr(thumbnails, "RETAIN_BYTES", 100)
    big = scratch.array("x", (11, 10))
    assert big.shape == (11, 10) and scratch.array("x", (11, 10)) is not big
    assert "x" not in scratch.arrays


def test_colour_mip_rgbx_writes_into_out_and_refuses_a_wrong_one():
    field = synthetic_field(9, (33, 47))
    out = np.full((33, 47, 4), 255, dtype=np.uint8)
    assert colour_mip_rgbx(field, out=out) is out
    np.testing.assert_array_equal(out, colour_mip_rgbx(field))
    for bad in (np.zeros((33, 47, 3), np.uint8), np.zeros((47, 33, 4), np.uint8), np.zeros((33, 47, 4), np.uint16)):
        with pytest.raises(ValueError, match="out must be"):
            colour_mip_rgbx(field, out=bad)
    with pytest.raises(ValueError, match="out must be"):
        colour_mip_rgbx(field, out=np.zeros((33, 94, 4), np.uint8)[:, ::2])


PIL_SETTINGS = (
    "import numpy as np; from PIL import Image; from bioims.imaging.thumbnails import render_thumbnails; "
    "render_thumbnails([np.arange(20 * 30, dtype=np.uint16).reshape(1, 20, 30)] * 3); "
    "print(Image.core.get_block_size(), Image.core.get_blocks_max())"
)


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, f"{thumbnails.PIL_BLOCK_SIZE} {thumbnails.PIL_BLOCKS_MAX}"), ({"PILLOW_BLOCKS_MAX": "3"}, "16777216 3")],
)
def test_pil_keeps_its_blocks_unless_the_environment_chose(env, expected):
    # a fresh interpreter, as a worker starts: PIL's own defaults, then render_thumbnails
    root = Path(__file__).resolve().parents[3]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PILLOW_")}
    run = subprocess.run(
        [sys.executable, "-c", PIL_SETTINGS], cwd=root, env={**clean, **env}, capture_output=True, text=True, check=True
    )
    assert run.stdout.split() == expected.split()


def _row_filters(data: bytes) -> set[int]:
    """The filter bytes of every row of a PNG (IHDR, one IDAT, IEND as png.encode_png writes)."""
    width, height = struct.unpack(">II", data[16:24])
    idat_length = struct.unpack(">I", data[33:37])[0]
    rows = zlib.decompress(data[41 : 41 + idat_length])
    assert len(rows) == height * (1 + 3 * width)
    return set(rows[:: 1 + 3 * width])


def test_downscaled_thumbnails_have_unfiltered_rows_and_upscaled_ones_sub_filtered_rows():
    assert thumbnails.png_filter((1280, 1024), (1000, 800)) == png.NONE_FILTER
    assert thumbnails.png_filter((1280, 1024), (100, 80)) == png.NONE_FILTER
    assert thumbnails.png_filter((320, 256), (1000, 800)) == png.SUB_FILTER
    assert thumbnails.png_filter((100, 80), (100, 80)) == png.NONE_FILTER
    small = render_thumbnails(synthetic_field(3, (64, 80)))  # 80 px wide: 100 px is larger, 1000 px too
    assert _row_filters(small["thumbnail-2d.png"]) == _row_filters(small["medium-2d.png"]) == {png.SUB_FILTER}
    large = render_thumbnails(synthetic_field(4, (1100, 1200)))
    assert _row_filters(large["thumbnail-2d.png"]) == _row_filters(large["medium-2d.png"]) == {png.NONE_FILTER}
