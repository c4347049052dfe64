"""The process-wide context: settings, stores and the workflow runtime of the current backend.

Services receive a Context instead of reaching for globals, so tests can build one per backend
(SQLite in a temp directory, or moto) and run the same suite on both.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from bioims.config import Settings, get_settings
from bioims.store import Stores


@dataclass
class Context:
    settings: Settings
    stores: Stores
    _runtime: Any = field(default=None, repr=False)
    _services: dict = field(default_factory=dict, repr=False)

    @property
    def runtime(self):
        """How workflows, jobs and trainings run on this backend (bioims.runtime)."""
        if self._runtime is None:
            from bioims.runtime import create_runtime

            self._runtime = create_runtime(self)
        return self._runtime

    def service(self, name: str):
        """The service object for `name` (e.g. "image-management"), created once per context."""
        if name not in self._services:
            from bioims.services.registry import create_service

            self._services[name] = create_service(name, self)
        return self._services[name]


_lock = threading.Lock()
_current: Context | None = None


def get() -> Context:
    global _current
    with _lock:
        if _current is None:
            settings = get_settings()
            _current = Context(settings, Stores(settings))
        return _current


def use(context: Context | None) -> None:
    """Install a context for this process (tests, embedded servers); None forgets it."""
    global _current
    with _lock:
        _current = context


def reset() -> None:
    use(None)


def for_settings(settings: Settings, **store_options) -> Context:
    return Context(settings, Stores(settings, **store_options))
