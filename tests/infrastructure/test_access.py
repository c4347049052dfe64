"""The access table: closures over in-process service calls, key patterns that follow bioims.keys."""

from __future__ import annotations

from fnmatch import fnmatchcase

import pytest

from bioims import keys, resources, tables
from stacks import access


def test_every_service_and_every_batch_job_has_an_access_entry():
    for service in resources.SERVICES:
        access.needs_of(service)
    from stacks.job_definitions import BATCH_JOBS

    for spec in BATCH_JOBS:
        access.needs_of(spec.job)


def test_unknown_consumers_are_an_error():
    with pytest.raises(KeyError, match="stacks/access.py"):
        access.needs_of("no-such-service")


def test_closure_includes_the_services_called_in_process():
    direct = access.needs_of("image-artifact", include_services=False)
    closed = access.needs_of("image-artifact")
    assert direct.write_tables == frozenset()
    # image-artifact -> image-management -> message, training-configuration; -> artifact, configuration
    assert closed.write_tables == {
        spec.name
        for spec in (
            tables.IMAGE_MANAGEMENT,
            tables.MESSAGE,
            tables.TRAINING_CONFIGURATION,
            tables.ARTIFACT,
            tables.CONFIGURATION,
        )
    }
    assert closed.describe_training_jobs  # through training-configuration
    assert access.DESCRIBE_STACKS_OBJECTS in closed.write_objects  # through artifact


def test_a_consumer_gets_nothing_it_does_not_use():
    label = access.needs_of("label")
    assert label.write_tables == {tables.LABEL.name}
    assert not (label.read_objects or label.write_objects or label.send_queues or label.start_workflows)
    search_service = access.needs_of("search-service")
    assert search_service.consume_queues and not search_service.send_queues


@pytest.mark.parametrize(
    "key, area",
    [
        (keys.flatfield_key("P1", "dapi"), access.PLATE_OBJECTS),
        (keys.thumbnail_key("P1", "I1", "tn.png"), access.PLATE_OBJECTS),
        (keys.roi_tensor_key("emb", "P1", "I1"), access.EMBEDDING_ROI_OBJECTS),
        (keys.roi_json_key("emb", "P1", "I1"), access.EMBEDDING_ROI_OBJECTS),
        (keys.image_list_key("T1"), access.TRAINING_OBJECTS),
        (keys.model_key("T1"), access.MODEL_OBJECTS),
        (keys.checkpoint_prefix("T1") + "epoch-3.pt", access.CHECKPOINT_OBJECTS),
        (keys.plate_embeddings_key("T1", "P1"), access.TRAINING_OBJECTS),
        (keys.search_snapshot_prefix("T1") + "index.faiss", access.SEARCH_OBJECTS),
    ],
)
def test_key_areas_cover_the_key_layout(key, area):
    assert fnmatchcase(key, area)


def test_writers_of_each_output_can_write_it():
    assert any(
        fnmatchcase(keys.flatfield_key("P", "dapi"), p) for p in access.needs_of("plate-preprocessing").write_objects
    )
    assert any(
        fnmatchcase(keys.roi_tensor_key("e", "P", "I"), p) for p in access.needs_of("image-preprocessing").write_objects
    )
    assert any(
        fnmatchcase(keys.roi_embedding_key("T", "P", "I"), p)
        for p in access.needs_of("embedding-compute").write_objects
    )
    assert any(fnmatchcase(keys.model_key("T"), p) for p in access.needs_of("sagemaker-training").write_objects)
    assert not any(
        fnmatchcase(keys.flatfield_key("P", "dapi"), p) for p in access.needs_of("embedding-compute").write_objects
    )
