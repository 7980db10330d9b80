"""What a written picture must be: a real PNG of sensible size."""

import os
import struct


def assert_real_png(path):
    """A PNG that decodes, of a sensible size, not a blank canvas."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    assert 300 <= width <= 5000 and 250 <= height <= 5000, (width, height)
    assert os.path.getsize(path) > 10_000
    import matplotlib.image

    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].std() > 0.05  # lines and text, not one colour
