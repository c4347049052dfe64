"""Every method of every service answers bad input with a 400 and changes nothing; random payloads
never produce a 500."""

from __future__ import annotations

import json
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bioims.services.api import handle_json
from bioims.services.registry import available_services, service_class
from bioims.tables import ALL_TABLES

DATA_SERVICES = ["configuration", "label", "message", "artifact", "tag", "training-configuration", "image-management", "process-plate"]
SERVICES = [s for s in available_services() if s in DATA_SERVICES or s in ("image-artifact", "train", "embedding", "search")]


def _snapshot(ctx) -> str:
    tables = {spec.name: sorted(json.dumps(r, sort_keys=True) for r in ctx.stores.table(spec).scan_all()) for spec in ALL_TABLES}
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
def test_missing_wrongly_typed_and_unknown_parameters(local_ctx, service, method_name, method):
    _seed(local_ctx)
    before = _snapshot(local_ctx)
    svc = local_ctx.service(service)
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
        assert f"'{name}" in response["body"]["message"]
    response = handle_json(svc, {"method": method_name, "noSuchParameter": 1})
    assert response["statusCode"] == 400 and "unknown parameter 'noSuchParameter'" in response["body"]["message"]
    assert _snapshot(local_ctx) == before


@pytest.mark.parametrize("event", [None, [], "text", 3, {}, {"method": 5}, {"method": "noSuchMethod"}])
def test_malformed_events(local_ctx, event):
    for service in SERVICES:
        response = handle_json(local_ctx.service(service), event)
        assert response["statusCode"] == 400
        assert response["body"]["message"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)


def _payloads():
    method_names = st.sampled_from([(s, m) for s, m, _ in _methods()])

    @st.composite
    def payload(draw):
        service, method_name = draw(method_names)
        fields = list(service_class(service).api_methods()[method_name].model.model_fields)
        names = st.sampled_from(fields) if fields else st.text(max_size=8)
        params = draw(st.dictionaries(names | st.text(max_size=8), json_values, max_size=5))
        return service, {"method": method_name, **params}

    return payload()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=_payloads())
def test_random_payloads_never_cause_internal_errors(local_ctx, case):
    service, event = case
    response = handle_json(local_ctx.service(service), event)
    assert response["statusCode"] in (200, 201, 400, 404, 409), (service, event, response)
