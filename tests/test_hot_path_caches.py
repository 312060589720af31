"""The caches the API request path keeps (issue 15), hammered from many threads and attacked.

Each cache trades a per-request computation for a lookup: header name sets,
route shapes, decoded environment variables, accepted states, the shared JSON
encoder and decoders. Every test here tries to make one of them answer for the
wrong request, the wrong configuration or the wrong thread.
"""

from __future__ import annotations

import gc
import json
import os
import random
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aws_helper_sync import api_handler, entrypoint, loading, settings
from aws_helper_sync.api import dispatcher, events, router
from aws_helper_sync.api.exceptions import BadRequestError
from aws_helper_sync.context import state as state_module
from aws_helper_sync.context.state import (
    InvalidStateError,
    UnknownStateError,
    set_allowed_states,
    validate_state,
)
from aws_helper_sync.entrypoint import known_state
from aws_helper_sync.errors import ConfigurationError
from tests.api_events import json_body, v1_event, v2_event
from tests.thread_support import environment_flipping, run_together

THREADS = 16


# --- header name sets -------------------------------------------------------------

def test_header_name_sets_never_mix_requests_across_threads():
    """Threads send their own header names (more distinct sets than the cache holds, so it is
    cleared under them) and values: every request reads exactly its own headers and state."""
    def worker(index: int) -> None:
        rng = random.Random(index)
        for n in range(300):
            names = [f"X-T{index}-{rng.randrange(40)}", "Accept", f"x-n{n % 7}"]
            state_name = rng.choice(["constitution-state", "Constitution-State", "CONSTITUTION-STATE"])
            state = f"s{index}_{n}"
            headers = {name: f"{name}={index}/{n}" for name in names}
            headers[state_name] = state
            build = v1_event if n % 2 else v2_event
            request = events.parse_event(build("GET", "/users", headers=headers))
            assert request.state_header() == state
            for name in names:
                assert request.headers[name.upper()] == f"{name}={index}/{n}"
            assert request.headers.get("constitution-state") == state

    assert run_together(worker, THREADS) == []
    assert len(events._NAME_SETS) <= events._NAME_SETS_MAX


def test_a_cached_name_set_does_not_hide_a_conflicting_state_header(app_root):
    """The first request caches its names with agreeing values; the same names later carry two
    states (two spellings, or one name twice in multiValueHeaders): refused every time."""
    agreeing = v1_event("GET", "/users", headers={"constitution-state": "ohio", "Constitution-State": "ohio"})
    assert events.parse_event(agreeing).state_header() == "ohio"

    spelled_twice = v1_event("GET", "/users", headers={"constitution-state": "ohio", "Constitution-State": "texas"})
    with pytest.raises(BadRequestError, match="several times"):
        events.parse_event(spelled_twice).state_header()

    repeated = v1_event("GET", "/users", headers={"constitution-state": "texas"})
    assert events.parse_event(repeated).state_header() == "texas"  # caches this name set
    repeated["multiValueHeaders"] = {"constitution-state": ["ohio", "texas"]}
    with pytest.raises(BadRequestError, match="several times"):
        events.parse_event(repeated).state_header()
    assert api_handler(repeated)["statusCode"] == 400


def test_a_malformed_header_value_is_refused_even_when_its_name_set_is_cached(app_root):
    good = v1_event("GET", "/me", headers={"X-A": "1", "constitution-state": "ohio"})
    events.parse_event(good)
    bad = v1_event("GET", "/me", headers={"X-A": "1", "constitution-state": "ohio"})
    bad["headers"]["X-A"] = 1
    with pytest.raises(BadRequestError, match="names to strings"):
        events.parse_event(bad)


def test_the_name_set_cache_is_bounded_whatever_names_callers_send():
    for n in range(events._NAME_SETS_MAX * 3):
        events.parse_event(v2_event("GET", "/users", headers={f"x-junk-{n}": "1"}))
    assert len(events._NAME_SETS) <= events._NAME_SETS_MAX


# --- route shapes -------------------------------------------------------------------

def _write_route(root: Path, file: str, name: str, answer: str) -> None:
    path = root / "api" / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"from aws_helper_sync import API\n\n\nclass {name}(API):\n"
                    f"    def process(self):\n        self.set_body({{'answer': {answer!r}, "
                    f"'ids': self.path_parameters}})\n")


@pytest.fixture
def two_roots(tmp_path, monkeypatch):
    for label in ("a", "b"):
        _write_route(tmp_path / label, "items/get.py", "ItemsGet", f"{label}-get")
        _write_route(tmp_path / label, "items/list.py", "ItemsList", f"{label}-list")
        _write_route(tmp_path / label, "items/post.py", "ItemsPost", f"{label}-post")
    monkeypatch.setenv("APP_ROOT", str(tmp_path / "a"))
    loading.clear_cache()
    yield tmp_path
    loading.clear_cache()


def _answer(event: dict) -> dict:
    response = api_handler(event)
    assert response["statusCode"] in (200, 201), response
    return json_body(response)


def test_cached_route_shapes_keep_action_ids_and_app_root_apart(two_roots, monkeypatch):
    headers = {"constitution-state": "ohio"}
    for _ in range(3):  # cold, then warm
        assert _answer(v1_event("GET", "/items", headers=headers))["answer"] == "a-list"
        assert _answer(v1_event("GET", "/items/7", headers=headers)) == {"answer": "a-get", "ids": ["7"]}
        assert _answer(v1_event("GET", "/items/8", headers=headers))["ids"] == ["8"]
        assert _answer(v1_event("POST", "/items", headers=headers, body={}))["answer"] == "a-post"
    monkeypatch.setenv("APP_ROOT", str(two_roots / "b"))
    assert _answer(v1_event("GET", "/items/9", headers=headers)) == {"answer": "b-get", "ids": ["9"]}
    assert api_handler(v1_event("GET", "/nothing/1", headers=headers))["statusCode"] == 404


def test_clear_cache_forgets_cached_routes_so_a_rewritten_file_is_served(two_roots):
    headers = {"constitution-state": "ohio"}
    assert _answer(v1_event("GET", "/items/1", headers=headers))["answer"] == "a-get"
    assert router._ROUTES
    _write_route(two_roots / "a", "items/get.py", "ItemsGet", "rewritten")
    assert _answer(v1_event("GET", "/items", headers=headers))["answer"] == "a-list"
    assert _answer(v1_event("GET", "/items", headers=headers))["answer"] == "a-list"  # (now by its path)
    assert router._ID_FREE_ROUTES
    _write_route(two_roots / "a", "items/list.py", "ItemsList", "rewritten-list")
    loading.clear_cache()
    assert not router._ROUTES and not router._ID_FREE_ROUTES
    assert _answer(v1_event("GET", "/items", headers=headers))["answer"] == "rewritten-list"
    assert _answer(v1_event("GET", "/items/1", headers=headers))["answer"] == "rewritten"


def test_route_cache_under_threads_and_clear_cache_races(two_roots):
    """Threads resolve three routes with their own ids while another keeps clearing the loader's
    caches: every answer is its own route's, with its own ids."""
    stop = threading.Event()

    def clearer() -> None:
        while not stop.is_set():
            loading.clear_cache()

    background = threading.Thread(target=clearer)
    background.start()

    def worker(index: int) -> None:
        for n in range(60):
            item = f"{index}{n}"
            got = _answer(v1_event("GET", f"/items/{item}", headers={"constitution-state": "ohio"}))
            assert got == {"answer": "a-get", "ids": [item]}
            assert _answer(v2_event("GET", "/items", headers={"constitution-state": "ohio"}))["answer"] == "a-list"

    try:
        assert run_together(worker, 8) == []
    finally:
        stop.set()
        background.join()


def test_paths_without_ids_keep_roots_methods_and_routes_apart_under_threads(two_roots):
    """Warm paths without ids are found by the path itself: from many threads, over two app
    roots, with the methods spelled as callers spell them (HEAD is GET's file), while the
    loader's caches keep being cleared, each answer is its own root's and route's."""
    roots = {label: str(two_roots / label) for label in ("a", "b")}
    cases = [(label, method, segments, route, ids)
             for label in roots
             for method, segments, route, ids in [
                 ("GET", ("items",), "ItemsList", ()), ("HEAD", ("items",), "ItemsList", ()),
                 ("get", ("items",), "ItemsList", ()), ("POST", ("items",), "ItemsPost", ()),
                 ("GET", ("items", "5"), "ItemsGet", ("5",)), ("GET", ["items"], "ItemsList", ()),
             ]]
    FILES = {"ItemsList": "items/list.py", "ItemsPost": "items/post.py", "ItemsGet": "items/get.py"}
    stop = threading.Event()

    def clearer() -> None:
        while not stop.is_set():
            loading.clear_cache()
            stop.wait(0.002)

    def worker(index: int) -> None:
        rng = random.Random(index)
        for _ in range(400):
            label, method, segments, route, ids = rng.choice(cases)
            cls, file, found_ids = router.find_route(method, segments, roots[label])
            assert (cls.__name__, file, found_ids) == (route, FILES[route], ids)
            assert sys.modules[cls.__module__].__file__.startswith(roots[label]), (label, cls)

    background = threading.Thread(target=clearer)
    background.start()
    try:
        assert run_together(worker, 8) == []
    finally:
        stop.set()
        background.join()
    with pytest.raises(router.RouteNotFoundError):
        router.find_route("GET", ("nothing",), roots["a"])


def test_a_decoded_slash_never_matches_a_cached_two_part_route(two_roots):
    """``/items%2Fx`` is one segment holding a '/': it must not reach items/x's file."""
    _write_route(two_roots / "a", "items/x/list.py", "ItemsXList", "nested")
    headers = {"constitution-state": "ohio"}
    assert _answer(v1_event("GET", "/items/1/x", headers=headers))["answer"] == "nested"
    assert api_handler(v1_event("GET", "/items%2Fx", headers=headers))["statusCode"] == 404


# --- settings.env -----------------------------------------------------------------

def test_env_follows_every_change_also_while_threads_read_it(monkeypatch):
    monkeypatch.setenv("AWS_HELPER_SYNC_TEST_FLIP", " first ")
    assert settings.env("AWS_HELPER_SYNC_TEST_FLIP") == "first"
    values = [f"value-{n}" for n in range(20)]
    seen: set = set()

    def reader(index: int) -> None:
        for _ in range(2000):
            seen.add(settings.env("AWS_HELPER_SYNC_TEST_FLIP"))

    with environment_flipping([{"AWS_HELPER_SYNC_TEST_FLIP": value} for value in values]):
        assert run_together(reader, 8) == []
    assert seen <= {*values, "first"}  # never a torn or stale-and-wrong value
    os.environ["AWS_HELPER_SYNC_TEST_FLIP"] = "last"
    assert settings.env("AWS_HELPER_SYNC_TEST_FLIP") == "last"
    os.environ["AWS_HELPER_SYNC_TEST_FLIP"] = "   "
    assert settings.env("AWS_HELPER_SYNC_TEST_FLIP", "dflt") == "dflt"
    del os.environ["AWS_HELPER_SYNC_TEST_FLIP"]
    assert settings.env("AWS_HELPER_SYNC_TEST_FLIP") is None


def test_cors_allow_origin_with_a_line_break_is_a_configuration_error(app_root, monkeypatch):
    monkeypatch.setenv("CORS_ALLOW_ORIGIN", "https://a.example\r\nSet-Cookie: x=1")
    with pytest.raises(ConfigurationError, match="CORS_ALLOW_ORIGIN"):
        settings.cors_allow_origin()
    response = api_handler(v1_event("GET", "/me", headers={"constitution-state": "ohio"}))
    assert response["statusCode"] == 500
    assert all("\n" not in str(v) for v in response["headers"].values())


def api_settings() -> tuple:
    """What the dispatcher's memo of the API settings answers (the fixed base headers apart)."""
    allow_origin, require_auth, root, fixed = dispatcher.api_config()
    assert fixed == (None if "," in allow_origin else events.fixed_base_headers(allow_origin))
    return allow_origin, require_auth, root


def test_api_settings_follow_every_variable_and_never_keep_an_error(monkeypatch):
    for name in ("CORS_ALLOW_ORIGIN", "REQUIRE_AUTH", "APP_ROOT", "LAMBDA_TASK_ROOT"):
        monkeypatch.delenv(name, raising=False)
    assert api_settings() == ("*", False, None)
    monkeypatch.setenv("REQUIRE_AUTH", "true")
    assert api_settings() == ("*", True, None)
    monkeypatch.setenv("CORS_ALLOW_ORIGIN", "https://a.example")
    assert api_settings() == ("https://a.example", True, None)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    assert api_settings() == ("https://a.example", True, "/var/task")
    monkeypatch.setenv("APP_ROOT", " /srv/app ")  # APP_ROOT wins, stripped as env() strips
    assert api_settings() == ("https://a.example", True, "/srv/app")
    monkeypatch.setenv("APP_ROOT", "  ")  # blank counts as unset
    assert api_settings() == ("https://a.example", True, "/var/task")
    monkeypatch.setenv("REQUIRE_AUTH", "maybe")
    for _ in range(2):  # refused at every call, not once and then forgotten
        with pytest.raises(ConfigurationError, match="REQUIRE_AUTH"):
            api_settings()
    monkeypatch.setenv("REQUIRE_AUTH", "no")
    assert api_settings() == ("https://a.example", False, "/var/task")
    monkeypatch.setenv("CORS_ALLOW_ORIGIN", "https://b.example\nX: y")
    with pytest.raises(ConfigurationError, match="CORS_ALLOW_ORIGIN"):
        api_settings()


def test_api_settings_under_threads_with_a_writer_flipping_them(monkeypatch):
    rounds = [("https://a.example", "true", "/a"), ("https://b.example", "false", "/b"), ("*", "1", "/c")]
    expected = {(origin, auth in ("true", "1"), root) for origin, auth, root in rounds}
    seen: set = set()
    monkeypatch.setenv("CORS_ALLOW_ORIGIN", "*")
    monkeypatch.setenv("REQUIRE_AUTH", "1")
    monkeypatch.setenv("APP_ROOT", "/c")

    def reader(index: int) -> None:
        for _ in range(2000):
            seen.add(api_settings())

    with environment_flipping([{"CORS_ALLOW_ORIGIN": origin, "REQUIRE_AUTH": auth, "APP_ROOT": root}
                               for origin, auth, root in rounds]):
        assert run_together(reader, 8) == []
    # each answer is made of values the variables held (a writer between the reads is allowed)
    assert {origin for origin, _, _ in seen} <= {origin for origin, _, _ in expected}
    assert {root for _, _, root in seen} <= {root for _, _, root in expected}
    for origin, auth, root in rounds:  # and once the writer is gone, exactly what they hold
        os.environ["CORS_ALLOW_ORIGIN"], os.environ["REQUIRE_AUTH"], os.environ["APP_ROOT"] = origin, auth, root
        assert api_settings() == (origin, auth in ("true", "1"), root)


def test_requests_follow_app_root_and_the_working_directory(tmp_path, monkeypatch):
    """The route's app root is read per request: APP_ROOT, else LAMBDA_TASK_ROOT, else the cwd
    (which changes without any variable changing)."""
    roots = {}
    for name in ("one", "two", "three"):
        roots[name] = tmp_path / name
        _write_raw(roots[name], "where/list.py", f"""
from aws_helper_sync import API


class WhereList(API):
    def process(self):
        self.set_body({{"root": "{name}"}})
""")
    event = v1_event("GET", "/where", headers={"constitution-state": "ohio"})

    def answered() -> str:
        response = api_handler(event)
        assert response["statusCode"] == 200, response
        return json.loads(response["body"])["root"]

    monkeypatch.delenv("APP_ROOT", raising=False)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(roots["one"]))
    assert answered() == "one"
    monkeypatch.setenv("APP_ROOT", str(roots["two"]))
    assert answered() == "two"
    monkeypatch.delenv("APP_ROOT")
    monkeypatch.delenv("LAMBDA_TASK_ROOT")
    monkeypatch.chdir(roots["three"])
    assert answered() == "three"
    monkeypatch.chdir(roots["one"])
    assert answered() == "one"


def test_each_request_gets_its_own_body_data_and_query_maps(tmp_path, monkeypatch):
    """Bodyless requests share one empty RequestBody inside the library: an API that writes
    to what it was given must never see another request's writes, nor body and data alias."""
    _write_raw(tmp_path, "scribble/list.py", """
from aws_helper_sync import API


class ScribbleList(API):
    def process(self):
        seen = {"body": dict(self.body), "data": dict(self.data), "query": dict(self.query_parameters),
                "multi": {k: list(v) for k, v in self.multi_query_parameters.items()},
                "ids": list(self.path_parameters)}
        self.body["written"] = self.request_id
        self.data["written"] = self.request_id
        self.multi_query_parameters.setdefault("q", []).append("written")
        self.path_parameters.append("written")
        self.set_body(seen)
""")
    _write_raw(tmp_path, "scribble/post.py", """
from aws_helper_sync import API


class ScribblePost(API):
    def process(self):
        self.data["written"] = True
        self.set_body({"body": self.body, "same": self.body is self.data})
""")
    monkeypatch.setenv("APP_ROOT", str(tmp_path))
    loading.clear_cache()

    def get(index: int) -> None:
        for n in range(200):
            query = {"q": f"{index}-{n}"} if n % 2 else None
            seen = _answer(v1_event("GET", "/scribble", headers={"constitution-state": "ohio"}, query=query))
            assert seen["body"] == {} and seen["ids"] == []
            assert seen["data"] == seen["query"] == (query or {})
            assert seen["multi"] == ({"q": [query["q"]]} if query else {})

    try:
        assert run_together(get, 8) == []
        answer = _answer(v1_event("POST", "/scribble", headers={"constitution-state": "ohio"},
                                  body=json.dumps({"a": 1})))
        assert answer == {"body": {"a": 1}, "same": False}  # data is a copy of the body
    finally:
        loading.clear_cache()


OWN_INIT = """
    def __init__(self, **kwargs):
        self.given = sorted(kwargs)
        super().__init__(**kwargs)
"""
OWN_NEW = """
    def __new__(cls, **kwargs):
        api = super().__new__(cls)
        api.given = sorted(kwargs)
        return api
"""


@pytest.mark.parametrize("hook", [OWN_INIT, OWN_NEW], ids=["__init__", "__new__"])
def test_an_api_with_its_own_init_or_new_is_still_built_through_it(tmp_path, monkeypatch, hook):
    _write_raw(tmp_path, "custom/list.py", f"""
from aws_helper_sync import API


class CustomList(API):
{hook}
    def process(self):
        self.set_body({{"given": self.given, "method": self.method, "path": self.path}})
""")
    monkeypatch.setenv("APP_ROOT", str(tmp_path))
    loading.clear_cache()
    try:
        answer = _answer(v1_event("GET", "/custom", headers={"constitution-state": "ohio"}))
    finally:
        loading.clear_cache()
    assert answer["method"] == "GET" and answer["path"] == "/custom"
    assert {"headers", "path_parameters", "query_parameters", "request_id", "event"} <= set(answer["given"])


def _write_raw(root: Path, relative: str, source: str) -> None:
    path = root / "api" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)


# --- accepted states ----------------------------------------------------------------

@pytest.mark.parametrize("check, cache", [
    (validate_state, state_module._ACCEPTED), (known_state, entrypoint._KNOWN),
], ids=["validate_state", "known_state"])
def test_a_remembered_state_is_refused_as_soon_as_any_allow_list_drops_it(monkeypatch, check, cache):
    monkeypatch.delenv("STATES_COLLECTION", raising=False)
    monkeypatch.setenv("ALLOWED_STATES", "ohio,texas")
    assert check("ohio") == "ohio"
    assert "ohio" in cache  # remembered
    monkeypatch.setenv("ALLOWED_STATES", "texas")
    with pytest.raises(UnknownStateError):
        check("ohio")
    monkeypatch.setenv("ALLOWED_STATES", "ohio,texas")
    assert check("ohio") == "ohio"
    try:
        set_allowed_states(["texas"])  # code wins over the variable
        with pytest.raises(UnknownStateError):
            check("ohio")
        set_allowed_states(["ohio"])
        assert check("ohio") == "ohio"
        set_allowed_states(["texas"])  # other names, as new an object as the first ones
        with pytest.raises(UnknownStateError):
            check("ohio")
    finally:
        set_allowed_states(None)
    assert check("ohio") == "ohio"


@pytest.mark.parametrize("check", [validate_state, known_state], ids=["validate_state", "known_state"])
def test_a_predicate_allow_list_is_asked_every_time(monkeypatch, check):
    monkeypatch.delenv("STATES_COLLECTION", raising=False)
    answers = iter([True, False, True])
    asked: list[str] = []

    def predicate(state: str) -> bool:
        asked.append(state)
        return next(answers)

    try:
        set_allowed_states(predicate)
        assert check("ohio") == "ohio"
        with pytest.raises(UnknownStateError):
            check("ohio")
        assert check("ohio") == "ohio"
    finally:
        set_allowed_states(None)
    assert asked == ["ohio"] * 3


def test_bad_spellings_never_enter_the_accepted_states():
    for value in ("admin", "Ohio", "ohio ", "", "a" * 64, "1ohio"):
        with pytest.raises(InvalidStateError):
            validate_state(value)
        assert value not in state_module._ACCEPTED


@pytest.mark.parametrize("check, cache, bound", [
    (validate_state, state_module._ACCEPTED, state_module._ACCEPTED_MAX),
    (known_state, entrypoint._KNOWN, entrypoint._KNOWN_MAX),
], ids=["validate_state", "known_state"])
def test_remembered_states_under_threads_with_the_allow_list_changing(monkeypatch, check, cache, bound):
    """Readers check states while a writer flips ALLOWED_STATES between two lists (no
    STATES_COLLECTION): once the writer stops, every answer is the one its final value gives,
    and the cache of accepted (or known) states stays bounded."""
    monkeypatch.delenv("STATES_COLLECTION", raising=False)
    monkeypatch.setenv("ALLOWED_STATES", "ohio,texas")

    def reader(index: int) -> None:
        for _ in range(3000):
            assert check("texas") == "texas"
            try:
                check("ohio")
            except UnknownStateError:
                pass

    with environment_flipping([{"ALLOWED_STATES": "ohio,texas"}, {"ALLOWED_STATES": "texas"}]):
        assert run_together(reader, 8) == []
    os.environ["ALLOWED_STATES"] = "texas"
    for _ in range(3):
        with pytest.raises(UnknownStateError):
            check("ohio")
    os.environ["ALLOWED_STATES"] = "ohio"
    assert check("ohio") == "ohio"
    with pytest.raises(UnknownStateError):
        check("texas")
    for n in range(bound + 50):  # whatever states callers send
        os.environ["ALLOWED_STATES"] = f"s{n}"
        check(f"s{n}")
    assert len(cache) <= bound


def test_known_state_never_remembers_a_state_under_a_registry_collection(monkeypatch):
    monkeypatch.delenv("ALLOWED_STATES", raising=False)
    entrypoint._KNOWN.clear()
    monkeypatch.setenv("STATES_COLLECTION", "core.states")  # a registry's answers expire: not kept here
    monkeypatch.setattr(entrypoint, "check_known_state", lambda state: state)
    assert known_state("utah") == "utah"
    assert "utah" not in entrypoint._KNOWN


# --- the shared JSON encoder and decoders ---------------------------------------------

def test_shared_json_decoders_and_encoder_serve_threads_their_own_bodies(app_root):
    def worker(index: int) -> None:
        for n in range(200):
            body = {"n": n, "thread": index, "price": index + n / 8, "deep": {"x": [index, n]}}
            text = json.dumps(body)
            if n % 5 == 0:
                text = text.replace('"deep"', '"de\\u0000ep"')  # takes the checked decoder: refused
                request = events.ApiRequest("POST", "/x", ("x",), events.Headers({}), {}, text)
                with pytest.raises(BadRequestError, match="NUL"):
                    request.read_body()
                continue
            request = events.ApiRequest("POST", "/x", ("x",), events.Headers({}), {}, text)
            assert request.read_body().data == body
            assert json.loads(events._ENCODER.encode(body)) == body

    assert run_together(worker, THREADS) == []


def test_non_finite_numbers_and_a_bom_are_still_refused_by_the_shared_decoder():
    for text in ('{"a": NaN}', '{"a": 1e400}', '{"a": -Infinity}', '\ufeff{"a": 1}', '[1]'):
        request = events.ApiRequest("POST", "/x", ("x",), events.Headers({}), {}, text)
        with pytest.raises(BadRequestError):
            request.read_body()


def test_a_circular_response_body_is_a_500_not_a_hang(app_root, tmp_path, monkeypatch):
    _write_route(tmp_path, "loop/list.py", "LoopList", "x")
    (tmp_path / "api" / "loop" / "list.py").write_text(
        "from aws_helper_sync import API\n\n\nclass LoopList(API):\n    def process(self):\n"
        "        body = {}\n        body['self'] = body\n        self.set_body(body)\n")
    monkeypatch.setenv("APP_ROOT", str(tmp_path))
    loading.clear_cache()
    response = api_handler(v1_event("GET", "/loop", headers={"constitution-state": "ohio"}))
    assert response["statusCode"] == 500


# --- ids without the regex ------------------------------------------------------------

@given(st.text(alphabet=st.sampled_from("0123456789abcdefABCDEFg-²١ "), max_size=40) | st.text(max_size=40))
def test_is_id_answers_exactly_as_the_id_pattern(part):
    assert router.is_id(part) == (router._ID.fullmatch(part) is not None)


# --- warm paths leave nothing to the cycle collector -------------------------------------

def _garbage_left_by(call, times: int = 30) -> int:
    """Objects that only the cycle collector could free, made by ``times`` warm calls of ``call``.

    A reference cycle per invocation is not a leak, but it lives until a collection of its
    generation, and an SQS batch made one per state group: RSS crept up by megabytes between
    the collector's full passes (benchmarks/bench_memory.py).
    """
    call()
    gc.collect()
    gc.disable()
    try:
        for _ in range(times):
            call()
        return gc.collect()
    finally:
        gc.enable()


def test_warm_api_requests_leave_no_reference_cycles(app_root, make_state):
    state = make_state("ohio")
    events_sent = [v1_event("GET", "/users", headers={"constitution-state": state}),
                   v2_event("GET", "/users/7", headers={"constitution-state": state})]

    def call() -> None:
        for event in events_sent:
            assert api_handler(event)["statusCode"] == 200

    assert _garbage_left_by(call) == 0


@pytest.mark.parametrize("consumer", ["batch_recorder", "state_recorder"], ids=["batch", "single"])
def test_warm_sqs_invocations_leave_no_reference_cycles(app_root, make_state, consumer):
    """Eight state groups (batch) or records (single), a record of each marked failed: the
    groups' failure bookkeeping is freed as soon as the invocation returns."""
    from aws_helper_sync.sqs.handler import load_consumer_class, sqs_handler
    from tests.sqs_support import lambda_event, lambda_record

    handler = sqs_handler(consumer)
    states = [make_state(f"s{i}") for i in range(8)]
    flag = "fail" if consumer == "batch_recorder" else "mark_failed"

    def call() -> None:
        records = [lambda_record({flag: n % 4 == 0}, state=states[n % 8]) for n in range(16)]
        response = handler(lambda_event(*records), None)
        assert len(response["batchItemFailures"]) == 4
        load_consumer_class(consumer).calls = []  # (the recorders keep what they saw)
        load_consumer_class(consumer).seen = []

    assert _garbage_left_by(call) == 0
