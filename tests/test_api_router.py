"""File-based routing (SPEC §5): method + URL path -> file under api/ and the ids."""

from __future__ import annotations

import uuid

import pytest

from aws_helper_sync.api.exceptions import RouteNotFoundError
from aws_helper_sync.api.router import is_id, match_route

OID = "65a1b2c3d4e5f6a7b8c9d0e1"
UUID = str(uuid.UUID("12345678-1234-5678-1234-567812345678"))


def route(method: str, path: str):
    return match_route(method, tuple(p for p in path.split("/") if p))


@pytest.mark.parametrize(("method", "path", "file", "ids"), [
    ("GET", "/users", "users/list.py", ()),
    ("GET", "/users/1", "users/get.py", ("1",)),
    ("POST", "/users", "users/post.py", ()),
    ("PUT", "/users/1", "users/put.py", ("1",)),
    ("PATCH", "/users/1", "users/patch.py", ("1",)),
    ("DELETE", "/users/1", "users/delete.py", ("1",)),
    ("GET", "/users/1/posts", "users/posts/list.py", ("1",)),
    ("GET", "/users/1/posts/2", "users/posts/get.py", ("1", "2")),
    ("POST", "/auth/login", "auth/login/post.py", ()),
])
def test_routing_table_rows(method, path, file, ids):
    found = route(method, path)
    assert (found.file, found.path_parameters) == (file, ids)


@pytest.mark.parametrize("ident", ["7", "000123", UUID, UUID.upper(), OID, OID.upper()])
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_trailing_id_kinds_for_writes(method, ident):
    found = route(method, f"/parcels/{ident}")
    assert (found.file, found.path_parameters) == (f"parcels/{method.lower()}.py", (ident,))


@pytest.mark.parametrize("part", ["login", "abc123", "12ab", OID[:-1], "0f8fad5bd9cb469fa16570867728950e"])
def test_non_id_trailing_part_is_a_folder_for_writes(part):
    found = route("POST", f"/auth/{part}")
    assert (found.file, found.path_parameters) == (f"auth/{part}/post.py", ())


def test_get_takes_odd_positions_as_ids_whatever_they_look_like():
    found = route("GET", "/users/john/posts/first")
    assert (found.file, found.path_parameters) == ("users/posts/get.py", ("john", "first"))


def test_nested_id_for_writes():
    found = route("POST", f"/users/{OID}/posts")
    assert (found.file, found.path_parameters) == ("users/posts/post.py", (OID,))


@pytest.mark.parametrize(("path", "file", "ids"), [
    ("/users", "users/list.py", ()), ("/users/1", "users/get.py", ("1",)),
    ("/users/1/posts/2", "users/posts/get.py", ("1", "2")),
])
def test_head_is_routed_like_get(path, file, ids):
    found = route("HEAD", path)
    assert (found.file, found.path_parameters) == (file, ids)


def test_method_letter_case_and_trailing_slash_do_not_matter():
    assert route("get", "/users/").file == "users/list.py"
    assert route("Delete", "//users//5/").path_parameters == ("5",)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/"),
    ("POST", "/"),
    ("TRACE", "/users"),
    ("CONNECT", "/users"),
    ("GET", "/../etc/passwd"),
    ("GET", "/users/1/../2"),
    ("POST", "/.."),
    ("POST", "/users/..%2F..%2Fetc"),
    ("GET", "/.hidden"),
    ("GET", "/users\\..\\x"),
    ("DELETE", "/123"),
    ("GET", "/a b"),
])
def test_unroutable_requests_are_route_not_found(method, path):
    with pytest.raises(RouteNotFoundError) as raised:
        route(method, path)
    assert raised.value.status_code == 404


def test_is_id():
    assert is_id("42") and is_id(OID) and is_id(UUID)
    assert not is_id("4a") and not is_id("") and not is_id(OID + "0") and not is_id("-1")
