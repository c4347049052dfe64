"""What each piece of running code may touch: the one place that lists it (least privilege).

Services call their sibling services in-process (not Lambda to Lambda), so a consumer needs the
union of its own needs and those of every service it uses; `needs_of` computes that closure.
Object-key patterns come from `bioims.keys` with `*` for ids, so they follow the key layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bioims import keys, resources, tables

ANY = "*"

# Object-key areas of the data bucket, derived from the key layout (docs/original.md §3.6).
PLATE_OBJECTS = keys.plate_prefix(ANY) + ANY  # flat fields, thumbnails
EMBEDDING_ROI_OBJECTS = keys.embedding_plate_prefix(ANY, ANY) + ANY  # ROI tensors, labels, ROI JSON
TRAINING_OBJECTS = keys.training_prefix(ANY) + ANY  # image lists, manifests, models, embeddings, reports
MODEL_OBJECTS = keys.model_prefix(ANY) + ANY  # SageMaker's output path: model.tar.gz, model, card
CHECKPOINT_OBJECTS = keys.checkpoint_prefix(ANY) + ANY
SEARCH_OBJECTS = keys.search_root() + ANY  # index snapshots, tag maps, staged loader inputs
DESCRIBE_STACKS_OBJECTS = f"{keys.ARTIFACT_ROOT}/describe-stacks/{ANY}"  # resource-name snapshots


@dataclass(frozen=True)
class Needs:
    """Access of one consumer. Tables by logical name, objects by key pattern, queues by slot."""

    read_tables: frozenset[str] = frozenset()
    write_tables: frozenset[str] = frozenset()
    read_objects: frozenset[str] = frozenset()
    write_objects: frozenset[str] = frozenset()
    read_resource_bucket: bool = False
    write_resource_bucket: bool = False
    read_source_buckets: bool = False
    send_queues: frozenset[str] = frozenset()
    consume_queues: frozenset[str] = frozenset()
    start_workflows: frozenset[str] = frozenset()
    describe_training_jobs: bool = False
    services: tuple[str, ...] = field(default=())

    def __or__(self, other: Needs) -> Needs:
        return Needs(
            read_tables=self.read_tables | other.read_tables,
            write_tables=self.write_tables | other.write_tables,
            read_objects=self.read_objects | other.read_objects,
            write_objects=self.write_objects | other.write_objects,
            read_resource_bucket=self.read_resource_bucket or other.read_resource_bucket,
            write_resource_bucket=self.write_resource_bucket or other.write_resource_bucket,
            read_source_buckets=self.read_source_buckets or other.read_source_buckets,
            send_queues=self.send_queues | other.send_queues,
            consume_queues=self.consume_queues | other.consume_queues,
            start_workflows=self.start_workflows | other.start_workflows,
            describe_training_jobs=self.describe_training_jobs or other.describe_training_jobs,
            services=tuple(dict.fromkeys(self.services + other.services)),
        )

    @property
    def tables_read_only(self) -> frozenset[str]:
        return self.read_tables - self.write_tables

    @property
    def objects_read_only(self) -> frozenset[str]:
        return self.read_objects - self.write_objects


def _rw(*specs: tables.TableSpec) -> frozenset[str]:
    return frozenset(spec.name for spec in specs)


# Direct needs of each service (bioims/services/<service>.py) and the services it calls in-process.
SERVICE_NEEDS: dict[str, Needs] = {
    "configuration": Needs(write_tables=_rw(tables.CONFIGURATION)),
    "label": Needs(write_tables=_rw(tables.LABEL)),
    "message": Needs(write_tables=_rw(tables.MESSAGE)),
    "artifact": Needs(write_tables=_rw(tables.ARTIFACT), write_objects=frozenset({DESCRIBE_STACKS_OBJECTS})),
    "tag": Needs(write_tables=_rw(tables.TAG)),
    "training-configuration": Needs(write_tables=_rw(tables.TRAINING_CONFIGURATION), describe_training_jobs=True),
    "image-management": Needs(
        write_tables=_rw(tables.IMAGE_MANAGEMENT),
        read_resource_bucket=True,  # source-plate manifests (populateSourcePlate reads a named bucket)
        read_source_buckets=True,
        services=("message", "training-configuration"),
    ),
    "image-artifact": Needs(
        read_source_buckets=True,
        read_resource_bucket=True,
        read_objects=frozenset({PLATE_OBJECTS}),
        write_objects=frozenset({PLATE_OBJECTS}),
        services=("image-management", "artifact", "configuration"),
    ),
    "process-plate": Needs(
        start_workflows=frozenset({"upload-source-plate", "process-plate"}),
        services=("image-management", "training-configuration"),
    ),
    "train": Needs(
        read_resource_bucket=True,  # per-compound train filters
        read_objects=frozenset({EMBEDDING_ROI_OBJECTS, TRAINING_OBJECTS}),
        write_objects=frozenset({TRAINING_OBJECTS}),
        start_workflows=frozenset({"train", "embedding-compute"}),
        services=("message", "image-management", "training-configuration", "artifact", "label"),
    ),
    "embedding": Needs(
        read_objects=frozenset({TRAINING_OBJECTS}),
        write_objects=frozenset({TRAINING_OBJECTS}),  # the card of a CellProfiler-feature training
        start_workflows=frozenset({"embedding-compute", "plate-embedding-compute"}),
        services=("image-management", "training-configuration"),
    ),
    "search": Needs(
        write_tables=_rw(tables.SEARCH),
        send_queues=frozenset({resources.SEARCH_QUEUE, resources.MANAGEMENT_QUEUE}),
        read_objects=frozenset({TRAINING_OBJECTS, SEARCH_OBJECTS}),
        write_objects=frozenset({SEARCH_OBJECTS}),  # loader inputs staged for the search service
        start_workflows=frozenset({"search-train-loader", "search-tag-loader"}),
        services=("tag", "training-configuration", "image-management"),
    ),
}

# Code that is not a Lambda service: Batch jobs, the search service container, SageMaker training.
CONSUMER_NEEDS: dict[str, Needs] = {
    "plate-preprocessing": Needs(
        read_source_buckets=True,
        read_resource_bucket=True,
        read_objects=frozenset({PLATE_OBJECTS}),
        write_objects=frozenset({PLATE_OBJECTS}),
        services=("configuration", "image-management", "artifact"),
    ),
    "image-preprocessing": Needs(
        read_source_buckets=True,
        read_resource_bucket=True,
        read_objects=frozenset({PLATE_OBJECTS, EMBEDDING_ROI_OBJECTS}),
        write_objects=frozenset({EMBEDDING_ROI_OBJECTS}),
        services=("configuration", "label", "image-management", "training-configuration", "artifact"),
    ),
    "embedding-compute": Needs(
        read_objects=frozenset({EMBEDDING_ROI_OBJECTS, TRAINING_OBJECTS}),
        write_objects=frozenset({TRAINING_OBJECTS}),
        services=("image-management", "training-configuration", "artifact"),
    ),
    "search-service": Needs(
        write_tables=_rw(tables.SEARCH),  # statuses and hits; it consumes the queues, never sends
        consume_queues=frozenset({resources.SEARCH_QUEUE, resources.MANAGEMENT_QUEUE}),
        read_objects=frozenset({TRAINING_OBJECTS, SEARCH_OBJECTS}),
        write_objects=frozenset({SEARCH_OBJECTS}),
        services=("tag", "image-management", "training-configuration"),
    ),
    # The web UI in the search task (bioims/ui, docs/ui.md): it calls the data services' read methods
    # in-process (BIOIMS_SERVICES=inprocess, like every deployed process) and reads artifact objects;
    # it searches through the HTTP API on the task's loopback (no queue, no IAM). Read-only: it never
    # takes the services' write needs, so it names their tables instead of `services`.
    "web-ui": Needs(
        read_tables=_rw(
            tables.IMAGE_MANAGEMENT,  # plates, wells, images
            tables.ARTIFACT,  # an image's artifacts
            tables.MESSAGE,  # an image's message log
            tables.TAG,  # tag filters
            tables.TRAINING_CONFIGURATION,  # trainings, embeddings
        ),
        read_objects=frozenset({PLATE_OBJECTS, TRAINING_OBJECTS}),  # thumbnails; reports and model cards
    ),
    # The training script reads its data from the Lustre mount (FSx imports the bucket itself) and
    # writes only its model directory and checkpoints, which SageMaker copies to S3 as this role.
    "sagemaker-training": Needs(
        read_objects=frozenset({CHECKPOINT_OBJECTS}),  # a restarted (spot) job resumes from them
        write_objects=frozenset({MODEL_OBJECTS, CHECKPOINT_OBJECTS}),
    ),
}


def needs_of(consumer: str, *, include_services: bool = True) -> Needs:
    """The needs of a service or consumer, merged with those of the services it uses in-process."""
    if consumer in SERVICE_NEEDS:
        start = SERVICE_NEEDS[consumer]
    elif consumer in CONSUMER_NEEDS:
        start = CONSUMER_NEEDS[consumer]
    else:
        raise KeyError(f"no access is defined for {consumer!r}; add it to stacks/access.py")
    total = start
    if not include_services:
        return total
    seen: set[str] = {consumer}
    pending = list(start.services)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name not in SERVICE_NEEDS:
            raise KeyError(f"{consumer!r} uses unknown service {name!r}")
        total = total | SERVICE_NEEDS[name]
        pending.extend(SERVICE_NEEDS[name].services)
    return total
