"""The card of a CellProfiler-feature training: what a model card is to a network.

A training of kind "cellprofiler" has no model file; its card (at keys.model_card_key, where a
network's card lives) records the feature groups, the channels, the segmentation channel and the
cp-measure version, so every plate of the training is measured the same way and a reader knows
what the vectors are. Recording it needs no SageMaker job: the card is written when the training
is created, and its presence marks the training as ready to embed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from bioims import keys
from bioims.features.cellprofiler import DEFAULT_GROUPS, check_groups, cp_measure_version
from bioims.store.ports import ObjectNotFound, ObjectStore

KIND: Final = "cellprofiler"
NETWORK: Final = "network"
KINDS = (NETWORK, KIND)
CARD_VERSION = 1


def feature_card(embedding: dict, groups: Sequence[str] = DEFAULT_GROUPS) -> dict[str, Any]:
    """The card of a feature training of `embedding` (its row from training-configuration)."""
    return {
        "cardVersion": CARD_VERSION,
        "kind": KIND,
        "embeddingName": embedding["embeddingName"],
        "groups": list(check_groups(groups)),
        "objects": ["Nuclei", "Cells"],
        "segmentationChannel": embedding.get("segmentationChannel"),
        "cpMeasure": cp_measure_version(),
        "imageProfile": (
            "mean of the ROI features (NaN ignored), robust z-scored per plate against the plate's DMSO images "
            "(search); evaluation applies the profiling recipe to the mean"
        ),
        "notes": ["no training: CellProfiler measurements of each ROI's nucleus and cell regions (cp-measure)"],
    }


def write_card(store: ObjectStore, train_id: str, card: dict) -> str:
    key = keys.model_card_key(train_id)
    store.put_bytes(key, json.dumps(card, indent=1, sort_keys=True).encode(), content_type="application/json")
    return key


def read_card(store: ObjectStore, train_id: str) -> dict | None:
    """The training's card, or None when it has none yet."""
    try:
        return json.loads(store.get_bytes(keys.model_card_key(train_id)))
    except ObjectNotFound:
        return None


def is_feature_card(card: dict | None) -> bool:
    return card is not None and card.get("kind") == KIND
