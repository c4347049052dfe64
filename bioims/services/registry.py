"""Service name -> implementing class: the one table of services. The clients
(bioims.clients.base), the Lambda functions (stacks/functions.py) and the CLI's service commands
are derived from it; tests/unit/test_registries.py resolves every entry.

Classes are named by string so that a Lambda imports only its own service's code."""

from __future__ import annotations

import importlib

from bioims.errors import NotFound
from bioims.services.api import Service

SERVICE_CLASSES: dict[str, str] = {
    "configuration": "bioims.services.configuration:ConfigurationService",
    "label": "bioims.services.label:LabelService",
    "message": "bioims.services.message:MessageService",
    "artifact": "bioims.services.artifact:ArtifactService",
    "tag": "bioims.services.tag:TagService",
    "training-configuration": "bioims.services.training_configuration:TrainingConfigurationService",
    "image-management": "bioims.services.image_management:ImageManagementService",
    "image-artifact": "bioims.services.image_artifact:ImageArtifactService",
    "process-plate": "bioims.services.process_plate:ProcessPlateService",
    "train": "bioims.services.train:TrainService",
    "embedding": "bioims.services.embedding:EmbeddingService",
    "search": "bioims.services.search:SearchService",
}


def service_class(name: str) -> type[Service]:
    if name not in SERVICE_CLASSES:
        raise NotFound(f"unknown service {name!r}; known: {', '.join(sorted(SERVICE_CLASSES))}")
    module_name, class_name = SERVICE_CLASSES[name].split(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


def available_services() -> list[str]:
    """Services whose third-party dependencies are installed (faiss for search, ...). A missing
    module of this package is an error, never skipped."""
    names = []
    for name in SERVICE_CLASSES:
        try:
            service_class(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or exc.name.split(".")[0] == "bioims":
                raise
            continue
        names.append(name)
    return names


def create_service(name: str, context) -> Service:
    return service_class(name)(context)
