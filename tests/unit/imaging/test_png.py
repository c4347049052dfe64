import io

import numpy as np
import pytest
from PIL import Image

from bioims.imaging.png import encode_png


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 7, 3), (9, 1, 3), (80, 100, 3), (33, 47), (1, 1)])
def test_pil_decodes_exactly_the_encoded_pixels(shape):
    rng = np.random.default_rng(sum(shape))
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    pixels[: shape[0] // 2] = 0  # runs of background, as in a dark field
    image = Image.open(io.BytesIO(encode_png(pixels)))
    assert image.format == "PNG" and image.mode == ("RGB" if len(shape) == 3 else "L")
    assert image.size == (shape[1], shape[0])
    np.testing.assert_array_equal(np.asarray(image), pixels)


def test_non_contiguous_input_is_encoded_as_its_values():
    pixels = np.arange(2 * 5 * 6 * 3, dtype=np.uint8).reshape(10, 6, 3)[::2, ::-1]
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(pixels)))), pixels)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4, 3), np.uint16),
        np.zeros((4, 4, 4), np.uint8),
        np.zeros((0, 4, 3), np.uint8),
        np.zeros(4, np.uint8),
    ],
)
def test_unsupported_pixels_are_refused(bad):
    with pytest.raises(ValueError, match="PNG|empty"):
        encode_png(bad)
