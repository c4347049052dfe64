"""Configuration service (docs/original.md §2.2): versioned key/value settings.

Every set writes the LATEST row and a timestamped history row. Keys the system reads have
documented defaults, so a fresh installation works before anyone sets them; `getParameter`
says whether a value is a default. Fixed: bodies are JSON objects (no double encoding), history
excludes the LATEST row, same-millisecond sets do not overwrite each other.
"""

from __future__ import annotations

import re

from bioims import tables
from bioims.errors import BadRequest, NotFound
from bioims.imaging import params
from bioims.imaging.errors import ParameterError
from bioims.services.api import Request, Service, api
from bioims.services.history import history_rows, write_latest_and_history
from bioims.services.models import ID_PATTERN, ID_RULE, Name, Text
from bioims.services.wire import Wire, get_item

DEFAULT_TRAIN_ID_KEY = "DefaultTrainId"

# The keys the system reads, with the original's values as defaults (docs/original.md §2.2, §B).
DEFAULTS: dict[str, str] = {
    "default-image-artifact-sizes": "100,1000",
    "default-image-artifact-keys": "thumbnail-2d.png,medium-2d.png",
    "image-preprocessing-roi-size": "128",
    "image-preprocessing-min-voxels": "200",
    "image-preprocessing-segmentation-channel": "dapi",
}


def check_value(key: str, value: str) -> None:
    """Refuse a value of a known key that the system could not use (BadRequest naming the key
    and its rule), so a typo fails when it is set, not later in every image job."""
    try:
        if key in (params.KEY_ROI_SIZE, params.KEY_MIN_VOXELS, params.KEY_SEGMENTATION_CHANNEL):
            params.RoiParameters.from_config({key: value})
        elif key == params.KEY_ARTIFACT_SIZES:
            params.ArtifactParameters.from_config(
                {
                    params.KEY_ARTIFACT_SIZES: value,
                    params.KEY_ARTIFACT_KEYS: ",".join(["x.png"] * len(value.split(","))),
                }
            )
        elif key == params.KEY_ARTIFACT_KEYS:
            params.ArtifactParameters.from_config(
                {params.KEY_ARTIFACT_KEYS: value, params.KEY_ARTIFACT_SIZES: ",".join(["1"] * len(value.split(",")))}
            )
    except ParameterError as exc:
        raise BadRequest(f"configuration key {key!r}: {exc}") from None
    if key in (params.KEY_ROI_SIZE, params.KEY_MIN_VOXELS) and not value.strip().isdigit():
        raise BadRequest(f"configuration key {key!r}: must be a whole number written in digits, not {value!r}")
    if key == params.KEY_SEGMENTATION_CHANNEL and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
        raise BadRequest(
            f"configuration key {key!r}: must be a channel name (letters, digits, '_', '-'), not {value!r}"
        )
    if key == DEFAULT_TRAIN_ID_KEY and not re.fullmatch(ID_PATTERN, value):
        raise BadRequest(f"configuration key {key!r}: must be a trainId ({ID_RULE}), not {value!r}")


def _item(result: dict) -> dict:
    """The original's LATEST row (key1, timestamp1, value) plus what this service adds."""
    return {
        "key1": result["key"],
        "timestamp1": tables.LATEST,
        "value": result["value"],
        "createTimestamp": result.get("timestamp"),
        "source": result.get("source", "set"),
    }


def _from_item(item: dict) -> dict:
    return {
        "key": item["key1"],
        "value": item["value"],
        "timestamp": item.get("createTimestamp"),
        "source": item.get("source", "set"),
    }


def _history_encode(result: dict, params: dict) -> list:
    return [{"key1": result["key"], "timestamp1": h["timestamp"], "value": h["value"]} for h in result["history"]]


def _history_decode(body: list, params: dict) -> dict:
    return {"key": params.get("key"), "history": [{"timestamp": r["timestamp1"], "value": r["value"]} for r in body]}


def _all_encode(result: dict, params: dict) -> list:
    defaults = set(result["defaults"])
    return [
        {"key1": k, "timestamp1": tables.LATEST, "value": v, **({"default": True} if k in defaults else {})}
        for k, v in sorted(result["parameters"].items())
    ]


def _all_decode(body: list, params: dict) -> dict:
    return {
        "parameters": {r["key1"]: r["value"] for r in body},
        "defaults": sorted(r["key1"] for r in body if r.get("default")),
    }


class KeyRequest(Request):
    key: Name


class SetRequest(Request):
    key: Name
    value: Text


class ValueRequest(Request):
    value: Text


class ConfigurationService(Service):
    name = "configuration"

    @property
    def _table(self):
        return self.table(tables.CONFIGURATION)

    def value(self, key: str) -> str:
        """The current value of `key` (or its default); NotFound when neither exists."""
        row = self._table.get({"key1": key, "timestamp1": tables.LATEST})
        if row is not None:
            return row["value"]
        if key in DEFAULTS:
            return DEFAULTS[key]
        raise NotFound(f"configuration key {key!r} is not set")

    def int_value(self, key: str) -> int:
        text = self.value(key)
        try:
            return int(text)
        except ValueError:
            raise NotFound(f"configuration key {key!r} holds {text!r}, not an integer") from None

    @api(KeyRequest, wire=get_item(_item, _from_item))
    def getParameter(self, request: KeyRequest) -> dict:
        """The current value of a key; `source` is "set" or "default"."""
        row = self._table.get({"key1": request.key, "timestamp1": tables.LATEST})
        if row is not None:
            return {"key": request.key, "value": row["value"], "timestamp": row.get("createTimestamp"), "source": "set"}
        if request.key in DEFAULTS:
            return {"key": request.key, "value": DEFAULTS[request.key], "timestamp": None, "source": "default"}
        raise NotFound(f"configuration key {request.key!r} is not set")

    @api(SetRequest)
    def setParameter(self, request: SetRequest) -> dict:
        """Set a key; known keys (see getAll) are validated first: 400 names the rule."""
        check_value(request.key, request.value)
        stamp = write_latest_and_history(self._table, {"key1": request.key, "value": request.value})
        return {"key": request.key, "value": request.value, "timestamp": stamp}

    @api(KeyRequest, wire=Wire(_history_encode, _history_decode))
    def getHistory(self, request: KeyRequest) -> dict:
        rows = history_rows(self._table, request.key)
        if not rows:
            raise NotFound(f"configuration key {request.key!r} has no history")
        return {"key": request.key, "history": [{"timestamp": r["timestamp1"], "value": r["value"]} for r in rows]}

    @api(wire=Wire(_all_encode, _all_decode))
    def getAll(self, request: Request) -> dict:
        """Every key's current value, defaults included (marked in `defaults`)."""
        values = dict(DEFAULTS)
        set_keys = set()
        for row in self._table.scan_all():
            if row["timestamp1"] == tables.LATEST:
                values[row["key1"]] = row["value"]
                set_keys.add(row["key1"])
        return {"parameters": values, "defaults": sorted(k for k in DEFAULTS if k not in set_keys)}

    @api(wire=get_item(_item, _from_item))
    def getDefaultTrainId(self, request: Request) -> dict:
        row = self._table.get({"key1": DEFAULT_TRAIN_ID_KEY, "timestamp1": tables.LATEST})
        if row is None:
            raise NotFound("no default trainId is set")
        return {"key": DEFAULT_TRAIN_ID_KEY, "value": row["value"]}

    @api(ValueRequest)
    def setDefaultTrainId(self, request: ValueRequest) -> dict:
        return self.setParameter(SetRequest(key=DEFAULT_TRAIN_ID_KEY, value=request.value))

    @api(KeyRequest)
    def deleteParameter(self, request: KeyRequest) -> dict:
        rows = list(self._table.query_all(request.key))
        if not rows:
            raise NotFound(f"configuration key {request.key!r} is not set")
        self._table.batch_write(deletes=[{"key1": r["key1"], "timestamp1": r["timestamp1"]} for r in rows])
        return {"key": request.key, "deleted": len(rows)}
