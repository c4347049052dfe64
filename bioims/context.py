"""The composition root: one Context owns the settings, the stores, the runtime and the services
of the current backend.

Services and jobs receive a Context instead of reaching for globals, so tests can build one per
backend (SQLite in a temp directory, or moto) and run the same suite on both. The typed accessors
(`ctx.image_management`, `ctx.artifact`, ...) give each service as its own class; `service(name)`
stays for the callers that hold a name from the wire (clients, the workflow runner, the Lambda
edge). This module is the only place that knows which runtime adapter a backend uses; nothing
below it imports it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from bioims import config
from bioims.config import Settings
from bioims.runtime.local import LocalRuntime
from bioims.runtime.ports import Runtime
from bioims.services.api import Service
from bioims.services.registry import create_service
from bioims.store import Stores

if TYPE_CHECKING:  # service modules are imported when first used (a Lambda loads only its own)
    from bioims.services.artifact import ArtifactService
    from bioims.services.configuration import ConfigurationService
    from bioims.services.embedding import EmbeddingService
    from bioims.services.image_artifact import ImageArtifactService
    from bioims.services.image_management import ImageManagementService
    from bioims.services.label import LabelService
    from bioims.services.message import MessageService
    from bioims.services.process_plate import ProcessPlateService
    from bioims.services.search import SearchService
    from bioims.services.tag import TagService
    from bioims.services.train import TrainService
    from bioims.services.training_configuration import TrainingConfigurationService


def create_runtime(context: Context) -> Runtime:
    """The runtime adapter of the context's backend."""
    if context.settings.backend == "local":
        return LocalRuntime(context)
    # boto3/botocore are the optional `aws` extra: the AWS adapter is imported only when used.
    from bioims.runtime.aws import AwsRuntime

    return AwsRuntime(context)


@dataclass
class Context:
    settings: Settings
    stores: Stores
    _runtime: Any = field(default=None, repr=False)
    _services: dict[str, Service] = field(default_factory=dict, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, **store_options: Any) -> Context:
        """A context with fresh stores for `settings` (worker processes rebuild theirs this way)."""
        return cls(settings, Stores(settings, **store_options))

    @property
    def runtime(self) -> Runtime:
        """How workflows, jobs and trainings run on this backend (bioims.runtime)."""
        if self._runtime is None:
            self._runtime = create_runtime(self)
        return self._runtime

    def service(self, name: str) -> Service:
        """The service object for `name` (e.g. "image-management"), created once per context."""
        if name not in self._services:
            self._services[name] = create_service(name, self)
        return self._services[name]

    # Typed accessors, one per service of bioims.services.registry (tests/unit/test_registries.py
    # checks that each returns its registered class).
    @property
    def configuration(self) -> ConfigurationService:
        return cast("ConfigurationService", self.service("configuration"))

    @property
    def label(self) -> LabelService:
        return cast("LabelService", self.service("label"))

    @property
    def message(self) -> MessageService:
        return cast("MessageService", self.service("message"))

    @property
    def artifact(self) -> ArtifactService:
        return cast("ArtifactService", self.service("artifact"))

    @property
    def tag(self) -> TagService:
        return cast("TagService", self.service("tag"))

    @property
    def training_configuration(self) -> TrainingConfigurationService:
        return cast("TrainingConfigurationService", self.service("training-configuration"))

    @property
    def image_management(self) -> ImageManagementService:
        return cast("ImageManagementService", self.service("image-management"))

    @property
    def image_artifact(self) -> ImageArtifactService:
        return cast("ImageArtifactService", self.service("image-artifact"))

    @property
    def process_plate(self) -> ProcessPlateService:
        return cast("ProcessPlateService", self.service("process-plate"))

    @property
    def train(self) -> TrainService:
        return cast("TrainService", self.service("train"))

    @property
    def embedding(self) -> EmbeddingService:
        return cast("EmbeddingService", self.service("embedding"))

    @property
    def search(self) -> SearchService:
        return cast("SearchService", self.service("search"))


_lock = threading.Lock()
_current: Context | None = None


def get() -> Context:
    """The process-wide context, built from the process-wide settings on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = Context.from_settings(config.get_settings())
        return _current


def use(context: Context | None) -> None:
    """Install a context for this process (tests, embedded servers); None forgets it."""
    global _current
    with _lock:
        _current = context


def reset() -> None:
    """Forget the process-wide context and settings: the next get() reads the environment again."""
    config.set_settings(None)
    use(None)


def for_settings(settings: Settings, **store_options: Any) -> Context:
    return Context.from_settings(settings, **store_options)
