from bioims.imaging.blocks import BLOCK_ELEMENTS, blocks


def test_blocks_cover_the_range_once_in_order():
    for size, block in ((0, 4), (1, 4), (8, 4), (9, 4), (BLOCK_ELEMENTS * 2 + 1, BLOCK_ELEMENTS)):
        parts = list(blocks(size, block))
        covered = [i for part in parts for i in range(part.start, part.stop)]
        assert covered == list(range(size))
        assert all(part.stop - part.start == block for part in parts[:-1])
