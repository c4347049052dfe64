"""Grey-level counts of an integer image (`np.bincount(raw.ravel())`), block by block.

Why blocks: `np.bincount` first casts its whole input to 8-byte integers, a fresh allocation of
8 bytes a pixel (10 MB for a 1024 x 1280 channel) that the allocator often serves with new pages
(page faults, zeroing) and that evicts the cache; per block of 2^17 pixels the cast stays in cache
and is reused. The counts are identical (same values, same length: the maximum level + 1); the
length grows with the blocks' maxima (np.bincount finds each block's anyway), so no separate pass
over the image looks for its maximum first.
"""

from __future__ import annotations

import numpy as np

COUNT_BLOCK = 1 << 17


def level_counts(raw: np.ndarray, block: int = COUNT_BLOCK) -> np.ndarray:
    """Pixels per grey level 0..max(raw) of an unsigned-integer image: `np.bincount(raw.ravel())`."""
    if raw.dtype.kind != "u":
        raise TypeError(f"level counts need an unsigned integer image, not {raw.dtype}")
    flat = raw.ravel()
    counts = np.bincount(flat[:block])
    for start in range(block, flat.size, block):
        part = np.bincount(flat[start : start + block])
        if part.size > counts.size:  # a higher level than any before: the longer array takes the sum
            part[: counts.size] += counts
            counts = part
        else:
            counts[: part.size] += part
    return counts
