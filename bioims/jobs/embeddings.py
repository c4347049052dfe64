"""The embedding-compute job: every image of one plate embedded for one training.

`embedding_compute` is what bioims.workflows.jobs runs for "embedding-compute" (AWS Batch and the
local runner alike): a training whose card is of kind "cellprofiler" is measured by
bioims.jobs.feature_embeddings, any other goes to its network (bioims.jobs.network_embeddings).
Both share the per-plate steps of bioims.jobs.plate_embeddings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bioims.features.card import is_feature_card, read_card
from bioims.jobs.feature_embeddings import feature_plate
from bioims.jobs.network_embeddings import embed_plate_for_training

if TYPE_CHECKING:
    from bioims.context import Context


def embedding_compute(context: Context, trainId: str, plateId: str) -> dict[str, Any]:  # noqa: N803 - job parameter names
    """The embedding-compute job: CellProfiler features for a feature training, else the network."""
    card = read_card(context.stores.data, trainId)
    if card is not None and is_feature_card(card):
        return feature_plate(context, trainId, plateId, card)
    return embed_plate_for_training(context, trainId, plateId)
