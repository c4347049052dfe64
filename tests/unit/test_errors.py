"""The one error family (bioims.errors) and its one mapping to status and body, through every
edge that uses it: the service handler (native and Lambda wire), the search HTTP API, the UI
server and the CLI's exit codes. Each former search and imaging error keeps its status and its
name on the wire; an exception outside the family is a 500 that leaks no traceback."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import urllib.error
import urllib.request

import click
import pytest
from pydantic import StrictStr

import bioims
from bioims import errors
from bioims.clients.base import ClientError, LambdaError
from bioims.config import ConfigError
from bioims.errors import (
    BadGateway,
    BadRequest,
    BioimsError,
    Conflict,
    InvalidRequest,
    NotFound,
    NotReady,
    PayloadTooLarge,
    PlateFileMissing,
    RequestError,
    Unavailable,
    UnknownImage,
    UnknownTraining,
)
from bioims.imaging.errors import (
    ImageReadError,
    ImageShapeError,
    ImagingError,
    MissingFlatField,
    ParameterError,
    UnsupportedImageError,
)
from bioims.jobs.labels import LabelSetupError
from bioims.search import SearchEngine
from bioims.search.httpapi import SearchHttpServer, _PayloadTooLarge
from bioims.services.api import Request, Service, api, handle, handle_wire
from bioims.services.numbering import NumberingConflict
from bioims.store.ports import ConditionFailed, StoreDamaged
from bioims.ui.data import SearchFailed, SearchUnavailable, UiData
from bioims.ui.server import UiServer
from tests.support.backends import local_context

# Every member of the family: (status, the "error" of its body). A new member must say here what
# it answers, so no error reaches an edge with a status nobody chose.
EXPECTED: dict[type[BioimsError], tuple[int, str]] = {
    BioimsError: (500, "BioimsError"),
    RequestError: (400, "RequestError"),
    BadRequest: (400, "BadRequest"),
    NotFound: (404, "NotFound"),
    Conflict: (409, "Conflict"),
    PayloadTooLarge: (413, "PayloadTooLarge"),
    BadGateway: (502, "BadGateway"),
    Unavailable: (503, "Unavailable"),
    LambdaError: (502, "LambdaError"),  # a client's answer when the service's Lambda function failed
    # formerly bioims.search.errors (SearchError): same statuses, same names on the search API
    InvalidRequest: (400, "InvalidRequest"),
    UnknownTraining: (404, "UnknownTraining"),
    UnknownImage: (404, "UnknownImage"),
    NotReady: (409, "NotReady"),
    PlateFileMissing: (404, "PlateFileMissing"),
    _PayloadTooLarge: (413, "_PayloadTooLarge"),
    # the imaging errors: the input cannot be processed as given (ParameterError was bridged to 400)
    ImagingError: (400, "ImagingError"),
    ImageReadError: (400, "ImageReadError"),
    ImageShapeError: (400, "ImageShapeError"),
    UnsupportedImageError: (400, "UnsupportedImageError"),
    ParameterError: (400, "ParameterError"),
    MissingFlatField: (400, "MissingFlatField"),
    LabelSetupError: (400, "LabelSetupError"),
    # the store: a conditional write that reaches the edge was and is a 409 named Conflict
    ConditionFailed: (409, "Conflict"),
    StoreDamaged: (503, "StoreDamaged"),
    NumberingConflict: (503, "NumberingConflict"),
    ConfigError: (500, "ConfigError"),
    SearchUnavailable: (503, "SearchUnavailable"),
    SearchFailed: (400, "SearchFailed"),
}

MEMBERS = list(EXPECTED)
EXIT_USAGE, EXIT_FAILED = 2, 1


def _family_in_bioims() -> set[type[BioimsError]]:
    found: set[type[BioimsError]] = set()
    for info in pkgutil.walk_packages(bioims.__path__, "bioims."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # optional dependencies (e.g. torch-only modules) may be absent
            continue
        found.update(v for v in vars(module).values() if inspect.isclass(v) and issubclass(v, BioimsError))
    return found


def _ids(cls: type) -> str:
    return cls.__name__


def test_every_member_of_the_family_states_its_status_here():
    unlisted = sorted(c.__qualname__ for c in _family_in_bioims() - set(EXPECTED))
    assert not unlisted, f"members of bioims.errors' family without an expected status: {unlisted}"


def test_the_family_imports_nothing_from_bioims():
    tree = ast.parse(inspect.getsource(errors))
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert imported and not [m for m in imported if m.split(".")[0] == "bioims"], imported


@pytest.mark.parametrize("cls", MEMBERS, ids=_ids)
def test_each_member_maps_to_its_status_and_body(cls):
    status, name = EXPECTED[cls]
    error = cls("what went wrong")
    assert errors.status_of(error) == status
    assert errors.answer(error) == (status, {"error": name, "message": "what went wrong"})


def test_details_travel_in_the_body_and_only_the_store_is_prefixed_with_the_operation():
    assert errors.answer(BadRequest("bad", details={"methods": ["a"]}), "op") == (
        400,
        {"error": "BadRequest", "message": "bad", "methods": ["a"]},
    )
    assert errors.answer(ConditionFailed("BioimsTag: item exists"), "createTag") == (
        409,
        {"error": "Conflict", "message": "createTag: BioimsTag: item exists"},
    )


def test_the_imaging_and_store_errors_keep_their_older_bases():
    """Callers of the array code catch ValueError, of the store StoreError/RuntimeError."""
    assert issubclass(ParameterError, ValueError) and issubclass(ConditionFailed, RuntimeError)
    assert issubclass(StoreDamaged, RuntimeError) and issubclass(ConfigError, RuntimeError)


# --- the service handler ------------------------------------------------------------------------
class _Raise(Request):
    kind: StrictStr


_BY_NAME = {cls.__qualname__: cls for cls in MEMBERS}


class _Raiser(Service):
    """A real service whose one method raises the error it is asked for."""

    name = "raiser"

    @api(_Raise)
    def fail(self, request: _Raise) -> dict:
        if request.kind == "internal":
            raise RuntimeError("disk on fire")
        raise _BY_NAME[request.kind]("what went wrong")


@pytest.mark.parametrize("cls", MEMBERS, ids=_ids)
def test_the_service_handler_answers_the_mapping(cls):
    status, name = EXPECTED[cls]
    message = ("fail: " if cls is ConditionFailed else "") + "what went wrong"
    event = {"method": "fail", "kind": cls.__qualname__}
    assert handle(_Raiser(None), event) == {"statusCode": status, "body": {"error": name, "message": message}}
    wire = handle_wire(_Raiser(None), event)  # on the Lambda wire the body is a string holding JSON
    assert wire["statusCode"] == status and json.loads(wire["body"]) == {"error": name, "message": message}


def _no_internals(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text and __file__ not in text


def test_an_exception_outside_the_family_is_a_500_without_internals():
    answer = handle(_Raiser(None), {"method": "fail", "kind": "internal"})
    assert answer == {
        "statusCode": 500,
        "body": {"error": "InternalError", "message": "fail: RuntimeError: disk on fire"},
    }
    wire = handle_wire(_Raiser(None), {"method": "fail", "kind": "internal"})
    assert wire["statusCode"] == 500 and json.loads(wire["body"])["error"] == "InternalError"
    _no_internals(wire["body"])


# --- the search HTTP API ------------------------------------------------------------------------
def _post(url: str, body: dict) -> tuple[int, str]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def search_api():
    engine = SearchEngine()
    server = SearchHttpServer(engine).start()
    yield engine, server
    server.stop()


@pytest.mark.parametrize("cls", MEMBERS + [RuntimeError], ids=_ids)
def test_the_search_http_api_answers_the_mapping(search_api, cls, monkeypatch):
    engine, server = search_api
    error = cls("what went wrong")

    def fail(_query):
        raise error

    monkeypatch.setattr(engine, "search", fail)
    status, text = _post(server.url + "/search", {"trainId": "t"})
    assert (status, json.loads(text)) == errors.answer(error)
    _no_internals(text)


def test_the_search_api_keeps_its_former_errors(search_api):
    """Real requests, not raised by hand: the former SearchError subclasses keep status and name."""
    _, server = search_api
    status, text = _post(server.url + "/search", {"trainId": "nope", "queryImageId": "x"})
    assert status == 404 and json.loads(text)["error"] == "UnknownTraining"
    status, text = _post(server.url + "/search", {"trainId": "t", "queryImageId": "x", "maxHits": -1})
    assert status == 400 and json.loads(text)["error"] == "InvalidRequest"


# --- the UI server ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    data = UiData(local_context(tmp_path_factory.mktemp("ui-home")), search_url="http://127.0.0.1:9")
    server = UiServer(data, port=0).start()
    yield data, server
    server.stop()


@pytest.mark.parametrize("cls", MEMBERS + [RuntimeError], ids=_ids)
def test_the_ui_server_answers_the_mapping(ui, cls, monkeypatch):
    data, server = ui

    def fail():
        raise cls("what went wrong")

    monkeypatch.setattr(data, "plates", fail)
    try:
        with urllib.request.urlopen(server.url + "/plates", timeout=10) as response:
            status, page = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, page = error.code, error.read().decode()
    assert status == errors.status_of(cls("x")) and "what went wrong" in page
    _no_internals(page)


# --- the CLI's exit codes -----------------------------------------------------------------------
def _exit_code_of_cli_raising(error: BaseException, capsys) -> tuple[int, str]:
    from bioims.cli.common import run_cli

    @click.group()
    def group() -> None:
        pass

    @group.command()
    def go() -> None:
        raise error

    with pytest.raises(SystemExit) as exited:
        import sys

        argv, sys.argv = sys.argv, ["bioims", "go"]
        try:
            run_cli(group)
        finally:
            sys.argv = argv
    return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize("cls", MEMBERS, ids=_ids)
def test_the_cli_exit_code_follows_the_status(cls, capsys):
    code, err = _exit_code_of_cli_raising(cls("what went wrong"), capsys)
    assert code == (EXIT_USAGE if EXPECTED[cls][0] == 400 else EXIT_FAILED)
    assert err.strip() == "error: what went wrong"


@pytest.mark.parametrize(
    "status, code", [(400, EXIT_USAGE), (404, EXIT_FAILED), (409, EXIT_FAILED), (503, EXIT_FAILED)]
)
def test_the_cli_maps_a_service_answer_by_the_same_rule(status, code, capsys):
    got, err = _exit_code_of_cli_raising(
        ClientError("tag", "getTagById", status, {"error": "X", "message": "m"}), capsys
    )
    assert got == code and err.strip() == f"error: tag.getTagById failed ({status}): m"


# --- the search service at the service edge (no bridge in between any more) ----------------------
def test_the_search_service_answers_a_malformed_query_with_the_search_error(tmp_path):
    """searchByImageId parses its query inside the method: 400 as before, and the body names the
    search's own error, as the search HTTP API does (the removed bridge renamed it BadRequest)."""
    service = local_context(tmp_path).service("search")
    answer = handle_wire(service, {"method": "searchByImageId", "trainId": "T1", "queryImageId": "x", "maxHits": 0})
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 400 and body["error"] == "InvalidRequest" and "maxHits" in body["message"]
    with pytest.raises(BadRequest):  # a Python caller that catches BadRequest still catches it
        service.submit({"trainId": "T1", "queryImageId": "x", "maxHits": 0})
