"""The thumbnails' PNGs in a real browser: Debian's headless Chromium (/usr/bin/chromium, installed
by .ci/run) decodes what bioims.imaging.png writes, with ISA-L's deflate (the default) and with the
zlib fallback, to exactly the encoded pixels: each PNG is drawn on a canvas (no colour management:
the files carry no colour chunks, sRGB in and out) and its pixels read back with getImageData.
Without Chromium or Playwright the tests skip with the reason; with CI=true they fail instead.
"""

from __future__ import annotations

import base64
import io
import shutil
import tempfile

import numpy as np
import pytest
from PIL import Image

from bioims.imaging import png
from bioims.imaging.thumbnails import render_thumbnails
from tests.e2e.test_ui_browser import CHROMIUM, CHROMIUM_ARGS, _require_browser
from tests.unit.imaging.synthetic import synthetic_field

DECODE = """async (uri) => {
    const image = new Image();
    image.src = uri;
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const context = canvas.getContext("2d", {colorSpace: "srgb", willReadFrequently: true});
    context.drawImage(image, 0, 0);
    const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let text = "";
    for (let i = 0; i < rgba.length; i += 0x8000) {
        text += String.fromCharCode.apply(null, rgba.subarray(i, i + 0x8000));
    }
    return [canvas.width, canvas.height, btoa(text)];
}"""


@pytest.fixture(scope="module")
def page():
    _require_browser()
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="bioims-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, "--force-color-profile=srgb"]
        )
        tab = context.new_page()
        tab.set_content("<!doctype html><title>png</title>")
        yield tab
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


def chromium_pixels(page, data: bytes) -> np.ndarray:
    """(H, W, 4) RGBA pixels of a PNG as Chromium decodes it."""
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    width, height, rgba = page.evaluate(DECODE, uri)
    return np.frombuffer(base64.b64decode(rgba), dtype=np.uint8).reshape(height, width, 4)


def test_chromium_decodes_the_thumbnails_to_exactly_their_pixels(page):
    field = synthetic_field(4, shape=(256, 320), nuclei=30, nucleus_radius=10)
    for name, data in render_thumbnails(field).items():  # the artifacts ingest writes (ISA-L's deflate)
        assert png.deflate is png.isal_deflate
        pixels = np.asarray(Image.open(io.BytesIO(data)))
        for label, encoded in (("isal", data), ("zlib fallback", png.encode_png(pixels, png.zlib_deflate))):
            decoded = chromium_pixels(page, encoded)
            assert decoded.shape[:2] == pixels.shape[:2], (name, label)
            np.testing.assert_array_equal(decoded[..., 3], 255)
            np.testing.assert_array_equal(decoded[..., :3], pixels, err_msg=f"{name}, {label}")
