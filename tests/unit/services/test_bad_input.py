"""Every method of every service answers bad input with a 400 and changes nothing; random payloads
never produce a 500."""

from __future__ import annotations

import importlib
import json
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bioims.services.api import handle_json
from bioims.services.registry import available_services, service_class
from bioims.tables import ALL_TABLES

DATA_SERVICES = [
    "configuration",
    "label",
    "message",
    "artifact",
    "tag",
    "training-configuration",
    "image-management",
    "process-plate",
]
SERVICES = [
    s for s in available_services() if s in DATA_SERVICES or s in ("image-artifact", "train", "embedding", "search")
]


def _snapshot(ctx) -> str:
    tables = {
        spec.name: sorted(json.dumps(r, sort_keys=True) for r in ctx.stores.table(spec).scan_all())
        for spec in ALL_TABLES
    }
    objects = sorted(i.key for i in ctx.stores.data.list(""))
    return json.dumps([tables, objects])


def _seed(ctx) -> None:
    """A little state, so 'unchanged' is checked against something."""
    for event in (
        ("label", {"method": "createCategory", "category": "moa"}),
        ("label", {"method": "createLabel", "category": "moa", "label": "DMSO"}),
        ("tag", {"method": "createTag", "tagValue": "moa:DMSO"}),
        ("configuration", {"method": "setParameter", "key": "k", "value": "v"}),
    ):
        assert handle_json(ctx.service(event[0]), event[1])["statusCode"] < 300


def _methods():
    for service in SERVICES:
        for name, method in sorted(service_class(service).api_methods().items()):
            yield service, name, method


def _accepts_anything(annotation) -> bool:
    return annotation is typing.Any


@pytest.mark.parametrize("service,method_name,method", list(_methods()), ids=lambda v: v if isinstance(v, str) else "")
def test_missing_wrongly_typed_and_unknown_parameters(backend_ctx, service, method_name, method):
    """On both backends: DynamoDB, S3 and SQS (moto) answer and stay unchanged like the local stores."""
    _seed(backend_ctx)
    before = _snapshot(backend_ctx)
    svc = backend_ctx.service(service)
    fields = method.model.model_fields
    required = [n for n, f in fields.items() if f.is_required()]
    if required:
        response = handle_json(svc, {"method": method_name})
        assert response["statusCode"] == 400
        assert all(f"missing parameter '{n}'" in response["body"]["message"] for n in required)
    for name, field in fields.items():
        if _accepts_anything(field.annotation):
            continue
        response = handle_json(svc, {"method": method_name, name: {"wrong": ["type"]}})
        assert response["statusCode"] == 400, (name, response)
        message = response["body"]["message"]
        assert f"'{name}'" in message or f"'{name}." in message, (name, message)
    response = handle_json(svc, {"method": method_name, "noSuchParameter": 1})
    assert response["statusCode"] == 400 and "unknown parameter 'noSuchParameter'" in response["body"]["message"]
    assert _snapshot(backend_ctx) == before


@pytest.mark.parametrize("event", [None, [], "text", 3, {}, {"method": 5}, {"method": "noSuchMethod"}])
def test_malformed_events(local_ctx, event):
    for service in SERVICES:
        response = handle_json(local_ctx.service(service), event)
        assert response["statusCode"] == 400
        assert response["body"]["message"]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-10, 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)


def _lambda_handler(service: str):
    """The deployed entry point of a service: lambdas/<service>.py's `handler`."""
    return importlib.import_module(f"lambdas.{service.replace('-', '_')}").handler


# Values the seeded tables hold, so well-typed requests also reach existing rows.
KNOWN_STRINGS = ("moa", "DMSO", "moa:DMSO", "k", "v", "origin", "1", "plate#x", "unique#0")


def _from_schema(schema: dict, defs: dict) -> st.SearchStrategy:
    """Values that satisfy a request model's JSON schema (types, lengths, patterns, bounds), so
    random requests get past validation and exercise the service code, not only the 400 path."""
    if "$ref" in schema:
        return _from_schema(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        return st.one_of([_from_schema(s, defs) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        low, high = schema.get("minLength", 0), schema.get("maxLength", 10**9)
        fits = lambda v: low <= len(v) <= high  # noqa: E731
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(fits)
        return (st.sampled_from(KNOWN_STRINGS) | st.text(min_size=low, max_size=max(low, 12))).filter(fits)
    if kind == "integer":
        low = schema.get("minimum", -3)
        high = schema.get("maximum", schema.get("exclusiveMaximum", low + 1000) - 1)
        return st.integers(low, max(low, min(high, low + 1000)))
    if kind == "number":
        low = schema.get("minimum", -1e6)
        return st.floats(low, schema.get("maximum", low + 1e6), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = _from_schema(schema.get("items", {}), defs)
        low = schema.get("minItems", 0)
        return st.lists(items, min_size=low, max_size=max(low, min(schema.get("maxItems", 3), 3)))
    if kind == "object" and "properties" in schema:
        properties = {n: _from_schema(p, defs) for n, p in schema["properties"].items()}
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {n: v for n, v in properties.items() if n in required},
            optional={n: v for n, v in properties.items() if n not in required},
        )
    if kind == "object":
        return st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=3)
    return json_values  # Any


def _payload(service: str):
    """A random event for one service: one of its methods with well-typed parameters (from the
    request model), with random values for its own and other parameter names, or an unknown
    method name."""
    methods = service_class(service).api_methods()

    @st.composite
    def payload(draw):
        method_name = draw(st.sampled_from(sorted(methods)) | st.text(max_size=12))
        if method_name not in methods:
            return {"method": method_name, **draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3))}
        schema = methods[method_name].model.model_json_schema()
        fields = list(methods[method_name].model.model_fields)
        names = st.sampled_from(fields) | st.text(max_size=8) if fields else st.text(max_size=8)
        random_params = st.dictionaries(names, json_values, max_size=5)
        params = draw(_from_schema(schema, schema.get("$defs", {})) | random_params)
        params.pop("method", None)
        return {"method": method_name, **params}

    return payload()


@pytest.mark.parametrize("service", SERVICES)
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_random_payloads_never_cause_internal_errors(local_ctx, service, data):
    """Random JSON events through every Lambda handler module: an answer, never a 500."""
    handler = _lambda_handler(service)
    event = data.draw(_payload(service), label="event")
    response = json.loads(json.dumps(handler(json.loads(json.dumps(event)), None)))
    assert set(response) == {"statusCode", "body"}, (service, event, response)
    assert response["statusCode"] in (200, 201, 400, 404, 409), (service, event, response)
    if response["statusCode"] >= 400:  # the original's wire: an error body is a string (a JSON document)
        assert isinstance(response["body"], str) and json.loads(response["body"])["message"], (service, event, response)
