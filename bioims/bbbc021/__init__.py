"""BBBC021 (Caie et al. 2010; Ljosa et al. 2012): readers, design, manifests, labels, tags, train
filters, the downloader, ingestion of a local copy and a synthetic generator that follows the real
experimental design."""
