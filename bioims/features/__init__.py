"""Embeddings that need no training: per-ROI CellProfiler measurements (cp-measure) on the
nucleus and cell regions of each ROI, rolled up to images like a network's embeddings."""
