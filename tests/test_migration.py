"""Migrating from the async framework (aws-python-helper 0.32.0) is an import rename.

The snippets below are written the way the async framework's README writes its
examples (``async def``, ``await``, ``aws_python_helper`` imports, Motor-style
``to_list``). ``to_sync`` applies exactly what docs/migrating.md promises (the
import prefix renamed, ``async``/``await`` dropped) and the result runs through
the real handlers against SecantusDB and moto, so the table cannot promise
more than the library does.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import logging
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from aws_helper_sync import loading
from tests.api_events import json_body, v1_event, v2_event
from tests.sqs_support import (
    create_queue,
    failed_ids,
    lambda_event,
    lambda_record,
    receive_all,
    subscribe_queue,
)

MIGRATING = Path(__file__).resolve().parents[1] / "docs" / "migrating.md"


def to_sync(source: str) -> str:
    """What a user does to async-framework code: rename the import prefix, drop async/await."""
    source = source.replace("aws_python_helper", "aws_helper_sync")
    source = re.sub(r"\basync\s+def\b", "def", source)
    source = re.sub(r"\bawait\s+", "", source)
    return textwrap.dedent(source).lstrip()


# --- the async framework's README examples, in its own style -------------------------------

ASYNC_APP = {
    "api/constitutions/list.py": """
        from aws_python_helper.api.base import API

        class ConstitutionListAPI(API):
            async def validate(self):
                if 'limit' in self.data:
                    if int(self.data['limit']) > 1000:
                        raise ValueError("Limit cannot exceed 1000")

            async def process(self):
                limit = int(self.data.get('limit', 100))
                results = await self.db.DOCS_DB.constitutions.find(
                    {}, {'_id': 0}
                ).sort('n', 1).limit(limit).to_list(limit)
                total = await self.db.DOCS_DB.constitutions.count_documents({})
                await self.db.DOCS_DB.searches.insert_one({'result_count': len(results)})
                self.set_body({'data': results, 'total': total,
                               'method': self.http_method, 'endpoint': self.endpoint})
                self.set_header('X-Total-Count', str(total))
                self.set_header(key='X-Served-By', value='constitutions')
    """,
    "api/constitutions/get.py": """
        from aws_python_helper.api.base import API

        class ConstitutionGetAPI(API):
            async def process(self):
                number = int(self.path_parameters[0])
                doc = await self.db.DOCS_DB.constitutions.find_one({'n': number}, {'_id': 0})
                if not doc:
                    self.set_code(404)
                    self.set_body({'error': 'Constitution not found'})
                    return
                self.set_code(200)
                self.set_body({'data': doc})
                self.set_header('X-Resource-Id', str(number))
    """,
    "api/addresses/list.py": """
        from aws_python_helper.api.base import API
        from repositories import AddressRepository

        class AddressListAPI(API):
            async def process(self):
                addresses = await self.external_db.ClusterDockets.DOCS_DB.addresses.find(
                    {'town': self.data['town']}, {'_id': 0}
                ).to_list(100)
                via_repository = await AddressRepository().find_by_query({'town': self.data['town']}, limit=1)
                self.set_body({'addresses': addresses, 'first': via_repository[0]['street']})
    """,
    "api/admin-reports/list.py": """
        from aws_python_helper.api.base import API
        from aws_python_helper.api.exceptions import UnauthorizedError, ForbiddenError

        class AdminOnlyAPI(API):
            async def validate(self):
                if not self.is_authenticated:
                    raise UnauthorizedError("Authentication required")
                if self.current_user.get('role') != 'admin':
                    raise ForbiddenError("Admin access required")

            async def process(self):
                self.set_body({'user': self.current_user['username'], 'user_id': self.auth_data['user_id']})
    """,
    "consumer/title_indexed.py": """
        from aws_python_helper.sqs.consumer_base import SQSConsumer

        class TitleIndexedConsumer(SQSConsumer):
            async def process_record(self, record):
                body = self.extract_content_message(record)
                await self.db.DOCS_DB.titles.insert_one(body)
    """,
    "consumer/order_batch.py": """
        from aws_python_helper.sqs.consumer_base import SQSConsumer
        from aws_python_helper import get_state

        class OrderBatchConsumer(SQSConsumer):
            @property
            def processing_mode(self) -> str:
                return "batch"

            async def process_batch(self, records):
                docs = []
                for record in records:
                    body = self.parse_body(record)
                    if 'amount' not in body:
                        self.add_message_failed(record.get('messageId'), 'amount is required')
                        continue
                    docs.append({**body, 'state': get_state()})
                if docs:
                    await self.db[get_state()].orders.insert_many(docs)
    """,
    "lambda/generate-route/main.py": """
        from aws_python_helper.lambda_standalone.base import Lambda
        from repositories import RoutesRepository

        class GenerateRouteLambda(Lambda):
            async def validate(self):
                if 'shipping_id' not in self.data:
                    raise ValueError("shipping_id is required")
                if not isinstance(self.data['shipping_id'], str):
                    raise TypeError("shipping_id must be a string")

            async def process(self):
                shipping_id = self.data['shipping_id']
                shipping = await self.db.DOCS_DB.shippings.find_one({'_id': shipping_id})
                if not shipping:
                    raise ValueError(f"Shipping {shipping_id} not found")
                route = await self.calculate_route(shipping)
                result = await RoutesRepository().collection.insert_one(route)
                self.logger.info(f"Route created: {result.inserted_id}")
                return {'route_id': str(result.inserted_id), 'shipping_id': shipping_id}

            async def calculate_route(self, shipping):
                return {'shipping_id': shipping['_id'], 'carrier_id': shipping.get('carrier_id'),
                        'status': 'pending'}
    """,
    "task/search-tax-by-town/task.py": """
        from aws_python_helper.fargate.task_base import FargateTask

        class SearchTaxByTownTask(FargateTask):
            async def execute(self):
                town = self.require_env('TOWN')
                self.logger.info(f"Processing town: {town}")
                docs = await self.db.DOCS_DB.address.find({'town': town}).to_list()
                await self.db.DOCS_DB.tax_runs.insert_one({'town': town, 'addresses': len(docs)})
    """,
    "repositories.py": """
        from aws_python_helper import Repository
        from pymongo import UpdateOne

        class RoutesRepository(Repository):
            @property
            def collection_name(self):
                return "routes"

        class TownsRepository(Repository):
            @property
            def collection_name(self):
                return "towns"

            @property
            def database_key(self):
                return "DOCS_DB"

            @property
            def indexes(self):
                return [{"key": [("name", 1)], "unique": True}, {"key": [("platform", 1)]}]

            async def get_available(self, platforms):
                return await self.collection.find(
                    {"platform": {"$in": platforms}}, {"_id": 0, "name": 1, "platform": 1}
                ).sort("name", 1).to_list(length=None)

        class AddressRepository(Repository):
            @property
            def database_key(self):
                return "DOCS_DB"

            @property
            def collection_name(self):
                return "addresses"

            @property
            def is_external(self):
                return True

            @property
            def cluster_name(self):
                return "ClusterDockets"

            async def find_by_query(self, query, limit=None):
                cursor = self.collection.find(query).sort("street", 1)
                if limit:
                    cursor = cursor.limit(limit)
                return await cursor.to_list(length=None)

        class LandRecordsRepository(Repository):
            @property
            def collection_name(self):
                return "records"

            async def bulk_upsert(self, records):
                operations = [
                    UpdateOne({"unique_id": r["unique_id"]}, {"$set": r}, upsert=True)
                    for r in records
                ]
                result = await self.collection.bulk_write(operations)
                return {"upserted": result.upserted_count, "modified": result.modified_count}
    """,
    "topic/title_indexed.py": """
        from aws_python_helper.sns.publisher import SNSPublisher
        import os

        class TitleIndexedTopic(SNSPublisher):
            def __init__(self):
                super().__init__(topic_arn=os.getenv('TITLE_INDEXED_SNS_TOPIC_ARN'))

            def build_message(self, constitution_id, title, event_type='title_indexed'):
                return {
                    'content': {'constitution_id': constitution_id, 'title': title},
                    'attributes': {'event_type': event_type},
                }
    """,
    "handlers/api_handler.py": """
        from aws_python_helper.api.handler import api_handler
        handler = api_handler
    """,
    "handlers/sqs_handler.py": """
        from aws_python_helper.sqs.handler import sqs_handler

        title_indexed_handler = sqs_handler('title-indexed')
        order_batch_handler = sqs_handler('order-batch')

        __all__ = ['title_indexed_handler', 'order_batch_handler']
    """,
    "handlers/lambda_handler.py": """
        from aws_python_helper.lambda_standalone.handler import lambda_handler

        generate_route_handler = lambda_handler('generate-route')

        __all__ = ['generate_route_handler']
    """,
    "handlers/task_main.py": """
        from aws_python_helper.fargate.handler import fargate_handler

        def main():
            return fargate_handler('search-tax-by-town')
    """,
}


@pytest.fixture
def migrated(tmp_path, monkeypatch, mongo_client, make_state):
    """The async app above, converted by ``to_sync`` into an app root; its database name test-unique."""
    docs_db = make_state("constitution_db")
    for relative, source in ASYNC_APP.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_sync(source).replace("DOCS_DB", docs_db))
    monkeypatch.setenv("APP_ROOT", str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))
    loading.clear_cache()
    yield tmp_path, docs_db
    loading.clear_cache()
    for name in ("repositories", "topic", "topic.title_indexed"):
        sys.modules.pop(name, None)


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"migrated_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_conversion_leaves_no_async_code():
    for relative, source in ASYNC_APP.items():
        converted = to_sync(source)
        assert "async" not in converted and "await" not in converted and "aws_python_helper" not in converted
        compile(converted, relative, "exec")


def test_api_examples_run_after_the_rename(migrated, mongo_client, make_state):
    root, docs_db = migrated
    mongo_client[docs_db].constitutions.insert_many([{"n": n, "title": f"Constitution {n}"} for n in (3, 1, 2)])
    handler = load_module(root / "handlers" / "api_handler.py").handler
    state = {"constitution-state": make_state("connecticut")}

    listed = handler(v2_event("GET", "/constitutions", headers=state, query={"limit": "2"}), None)
    too_many = handler(v1_event("GET", "/constitutions", headers=state, query={"limit": "5000"}), None)
    found = handler(v1_event("GET", "/constitutions/2", headers=state), None)
    missing = handler(v2_event("GET", "/constitutions/9", headers=state), None)

    assert listed["statusCode"] == 200, listed
    assert json_body(listed) == {"data": [{"n": 1, "title": "Constitution 1"}, {"n": 2, "title": "Constitution 2"}],
                                 "total": 3, "method": "get", "endpoint": "constitutions"}
    assert (listed["headers"]["X-Total-Count"], listed["headers"]["X-Served-By"]) == ("3", "constitutions")
    assert mongo_client[docs_db].searches.count_documents({"result_count": 2}) == 1
    assert (too_many["statusCode"], json_body(too_many)["message"]) == (400, "Limit cannot exceed 1000")
    assert (found["statusCode"], json_body(found)) == (200, {"data": {"n": 2, "title": "Constitution 2"}})
    assert found["headers"]["X-Resource-Id"] == "2"
    assert (missing["statusCode"], json_body(missing)) == (404, {"error": "Constitution not found"})


def test_external_cluster_examples_run_after_the_rename(migrated, mongo_client, mongo_uri, make_state, monkeypatch):
    root, docs_db = migrated
    monkeypatch.setenv("EXTERNAL_MONGODB_CONNECTIONS", json.dumps(
        [{"name": "ClusterDockets", "connection_string": mongo_uri}]))
    for name in ("MONGO_DB_USER", "MONGO_DB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    mongo_client[docs_db].addresses.insert_many(
        [{"town": "Norwalk", "street": s} for s in ("Main St", "Elm St")] + [{"town": "Stamford", "street": "X"}])
    handler = load_module(root / "handlers" / "api_handler.py").handler

    response = handler(v2_event("GET", "/addresses", headers={"constitution-state": make_state("connecticut")},
                                query={"town": "Norwalk"}), None)

    assert response["statusCode"] == 200, response
    body = json_body(response)
    assert sorted(a["street"] for a in body["addresses"]) == ["Elm St", "Main St"]
    assert body["first"] == "Elm St"


def test_auth_examples_run_after_the_rename_on_the_same_token_documents(migrated, mongo_client, make_state,
                                                                       monkeypatch):
    root, _ = migrated
    auth_db = make_state("core")
    monkeypatch.setenv("REQUIRE_AUTH", "true")
    monkeypatch.setenv("AUTH_DB_NAME", auth_db)
    monkeypatch.delenv("AUTH_BYPASS_TOKEN", raising=False)
    # naive UTC, as the async framework stored it (datetime.utcnow())
    soon = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(hours=1)
    mongo_client[auth_db].users.insert_many([
        {"_id": "u-ann", "username": "ann", "password": "secret", "role": "admin", "is_active": True},
        {"_id": "u-bob", "username": "bob", "role": "clerk"},
    ])
    mongo_client[auth_db].tokens.insert_many([
        {"token": "tok-ann", "user_id": "u-ann", "is_active": True, "expires_at": soon},
        {"token": "tok-bob", "user_id": "u-bob", "is_active": True},
    ])
    handler = load_module(root / "handlers" / "api_handler.py").handler

    def call(token):
        headers = {"constitution-state": make_state("connecticut")}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return handler(v1_event("GET", "/admin-reports", headers=headers), None)

    admin, clerk, nobody = call("tok-ann"), call("tok-bob"), call(None)

    assert (admin["statusCode"], json_body(admin)) == (200, {"user": "ann", "user_id": "u-ann"}), admin
    assert (clerk["statusCode"], json_body(clerk)["message"]) == (403, "Admin access required")
    assert nobody["statusCode"] == 401


def test_sqs_examples_run_after_the_rename(migrated, mongo_client, make_state):
    root, docs_db = migrated
    handlers = load_module(root / "handlers" / "sqs_handler.py")
    ct, nj = make_state("connecticut"), make_state("new_jersey")

    single = handlers.title_indexed_handler(lambda_event(
        lambda_record({"title": "Preamble"}, state=ct), lambda_record({"title": "Article I"}, state=nj)), None)
    bad = lambda_record({"sku": "x"}, state=nj)
    batch = handlers.order_batch_handler(lambda_event(
        lambda_record({"amount": 5}, state=ct), bad, lambda_record({"amount": 7}, state=nj)), None)

    assert single["batchItemFailures"] == []
    assert sorted(d["title"] for d in mongo_client[docs_db].titles.find()) == ["Article I", "Preamble"]
    assert failed_ids(batch) == {bad["messageId"]}
    assert [(d["amount"], d["state"]) for d in mongo_client[ct].orders.find()] == [(5, ct)]
    assert [(d["amount"], d["state"]) for d in mongo_client[nj].orders.find()] == [(7, nj)]


def test_lambda_example_runs_after_the_rename(migrated, mongo_client, make_state):
    root, docs_db = migrated
    mongo_client[docs_db].shippings.insert_one({"_id": "507f1f77bcf86cd799439011", "carrier_id": "c-9"})
    handler = load_module(root / "handlers" / "lambda_handler.py").generate_route_handler
    state = make_state("connecticut")

    result = handler({"constitution-state": state, "data": {"shipping_id": "507f1f77bcf86cd799439011"}}, None)
    refused = handler({"constitution-state": state, "data": {"shipping_id": 7}}, None)
    unknown = handler({"constitution-state": state, "data": {"shipping_id": "nope"}}, None)

    assert result["success"] is True, result
    assert result["data"]["shipping_id"] == "507f1f77bcf86cd799439011"
    route = mongo_client[state].routes.find_one()  # RoutesRepository: state-scoped
    assert (str(route["_id"]), route["carrier_id"]) == (result["data"]["route_id"], "c-9")
    assert (refused["success"], refused["error_type"]) == (False, "TypeError")
    assert unknown["error"] == "Shipping nope not found"


def test_repository_examples_run_after_the_rename(migrated, mongo_client, make_state):
    _, docs_db = migrated
    from repositories import LandRecordsRepository, TownsRepository

    from aws_helper_sync import set_state

    mongo_client[docs_db].towns.insert_many([
        {"name": "Stamford", "platform": "a"}, {"name": "Norwalk", "platform": "b"}, {"name": "Hartford", "platform": "c"}])
    state = make_state("connecticut")
    set_state(state)
    records = [{"unique_id": "r1", "owner": "A"}, {"unique_id": "r2", "owner": "B"}]

    towns = TownsRepository().get_available(["a", "b"])
    first = LandRecordsRepository().bulk_upsert(records)
    again = LandRecordsRepository().bulk_upsert([{"unique_id": "r1", "owner": "C"}])

    assert towns == [{"name": "Norwalk", "platform": "b"}, {"name": "Stamford", "platform": "a"}]
    assert "name_1" in mongo_client[docs_db].towns.index_information()
    assert (first, again) == ({"upserted": 2, "modified": 0}, {"upserted": 0, "modified": 1})
    assert mongo_client[state].records.count_documents({}) == 2


def test_sns_example_runs_after_the_rename(migrated, boto_client, unique, monkeypatch, make_state):
    sns, sqs = boto_client("sns"), boto_client("sqs")
    topic_arn = sns.create_topic(Name=unique)["TopicArn"]
    queue_url = create_queue(sqs, unique)
    subscribe_queue(sns, sqs, topic_arn, queue_url, raw=True)
    monkeypatch.setenv("TITLE_INDEXED_SNS_TOPIC_ARN", topic_arn)
    from topic.title_indexed import TitleIndexedTopic

    from aws_helper_sync import set_state

    state = make_state("connecticut")
    set_state(state)
    topic = TitleIndexedTopic()

    topic.publish(topic.build_message("123", "My Constitution"))
    topic.publish([topic.build_message("id1", "Constitution A"), topic.build_message("id2", "Constitution B")])

    messages = receive_all(sqs, queue_url)
    assert sorted(json.loads(m["Body"])["title"] for m in messages) == [
        "Constitution A", "Constitution B", "My Constitution"]
    assert {m["MessageAttributes"]["constitution-state"]["StringValue"] for m in messages} == {state}
    assert {m["MessageAttributes"]["event_type"]["StringValue"] for m in messages} == {"title_indexed"}


@pytest.fixture
def ecs(boto_client, monkeypatch, unique):
    """An ECS cluster with the task definition ``search-tax-by-town`` on moto; ECS_* set."""
    ec2, ecs = boto_client("ec2"), boto_client("ecs")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]  # default VPC (see TESTING.md)
    group = ec2.create_security_group(GroupName=unique, Description="tasks")["GroupId"]
    ecs.create_cluster(clusterName=unique)
    ecs.register_task_definition(
        family="search-tax-by-town", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
        cpu="256", memory="512",
        containerDefinitions=[{"name": "search-tax-by-town", "image": "app:latest", "memory": 512}],
    )
    monkeypatch.setenv("ECS_CLUSTER", unique)
    monkeypatch.setenv("ECS_SUBNETS", subnet)
    monkeypatch.setenv("ECS_SECURITY_GROUPS", group)
    return ecs


def test_fargate_examples_run_after_the_rename(migrated, mongo_client, ecs, make_state, monkeypatch, unique):
    root, docs_db = migrated
    mongo_client[docs_db].address.insert_many([{"town": "Norwalk"}, {"town": "Norwalk"}, {"town": "Stamford"}])
    launcher = to_sync("""
        from aws_python_helper.fargate.executor import FargateExecutor

        def handler(event, context):
            executor = FargateExecutor()
            task_arn = executor.run_task('search-tax-by-town', envs={'TOWN': 'Norwalk', 'ONLY_TAX': 'true'})
            status = executor.get_task_status(task_arn)
            return {'taskArn': task_arn, 'status': status['status'], 'started_at': status['started_at'],
                    'ecs': executor.ecs_client.meta.service_model.service_name}
    """)
    (root / "launcher.py").write_text(launcher)
    namespace = vars(load_module(root / "launcher.py"))
    from aws_helper_sync import state_scope

    state = make_state("connecticut")
    with state_scope(state):
        launched = namespace["handler"]({}, None)

    assert launched["taskArn"].startswith("arn:aws:ecs:") and launched["ecs"] == "ecs"
    assert isinstance(launched["status"], str) and "started_at" in launched
    task = ecs.describe_tasks(cluster=unique, tasks=[launched["taskArn"]])["tasks"][0]
    container = task["overrides"]["containerOverrides"][0]
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert (environment["TOWN"], environment["CONSTITUTION_STATE"]) == ("Norwalk", state)
    for name, value in environment.items():  # run the container's entry point with what ECS recorded
        monkeypatch.setenv(name, value)
    assert load_module(root / "handlers" / "task_main.py").main() == 0
    assert mongo_client[docs_db].tax_runs.find_one({}, {"_id": 0}) == {"town": "Norwalk", "addresses": 2}


def test_utility_examples_run_after_the_rename(tmp_path):
    (tmp_path / "utilities.py").write_text(to_sync("""
        import json, datetime
        from bson import ObjectId
        from aws_python_helper import get_state, set_state
        from aws_python_helper.utils.json_encoder import MongoJSONEncoder, mongo_json_dumps
        from aws_python_helper.utils.serializer import serialize_mongo_types
        from aws_python_helper.api.exceptions import UnauthorizedError, ForbiddenError

        doc = {'_id': ObjectId('64b7f0c2a1b2c3d4e5f60718'), 'tags': ['a']}
        as_cls = json.dumps(doc, cls=MongoJSONEncoder)
        as_helper = mongo_json_dumps(doc)
        clean = serialize_mongo_types(doc)
        before = get_state()
        set_state("new_jersey")
        after = get_state()
        errors = (UnauthorizedError("Authentication required").status_code,
                  ForbiddenError("Admin access required").status_code)
    """))
    namespace = vars(load_module(tmp_path / "utilities.py"))
    assert json.loads(namespace["as_cls"]) == json.loads(namespace["as_helper"]) == namespace["clean"] == {
        "_id": "64b7f0c2a1b2c3d4e5f60718", "tags": ["a"]}
    assert (namespace["before"], namespace["after"]) == (None, "new_jersey")
    assert namespace["errors"] == (401, 403)


# --- docs/migrating.md: every import it lists exists -------------------------------------

def table_imports() -> list[tuple[str, str]]:
    """(module, name) of each "`from aws_helper_sync... import X`" row of docs/migrating.md."""
    pairs = re.findall(r"`from (aws_helper_sync[\w.]*) import ([\w, ]+)`", MIGRATING.read_text())
    return [(module, name.strip()) for module, names in pairs for name in names.split(",")]


def test_every_import_in_the_migration_table_exists():
    imports = table_imports()
    assert len(imports) >= 20
    for module, name in imports:
        assert hasattr(importlib.import_module(module), name), f"from {module} import {name}"


def test_the_migration_guide_is_linked_from_the_readme():
    readme = (MIGRATING.parents[1] / "README.md").read_text()
    assert "docs/migrating.md" in readme


# --- the renamed names one by one ----------------------------------------------------------

def test_http_method_and_endpoint_mean_what_they_mean_in_the_async_framework():
    from aws_helper_sync import API

    api = API(method="POST", path="/users/123/posts/")
    assert (api.http_method, api.endpoint, api.method, api.path) == ("post", "users/123/posts", "POST", "/users/123/posts/")


def test_set_header_takes_key_value_keywords_and_keeps_name_value():
    from aws_helper_sync import API

    api = API()
    api.set_header("A", "1").set_header(name="B", value="2").set_header(key="C", value=3)
    assert api.response_headers == {"A": "1", "B": "2", "C": "3"}
    with pytest.raises(TypeError, match="not both"):
        api.set_header("D", key="D", value="4")
    with pytest.raises(TypeError, match="value"):
        api.set_header(key="E")


# --- a leftover async helper: warned once, by name -----------------------------------------

def test_an_async_helper_is_warned_about_once_naming_it(tmp_path, monkeypatch, caplog, make_state, mongo_client):
    monkeypatch.setenv("APP_ROOT", str(tmp_path))
    loading.clear_cache()
    (tmp_path / "lambda" / "legacy").mkdir(parents=True)
    (tmp_path / "lambda" / "legacy" / "main.py").write_text(textwrap.dedent("""
        from aws_helper_sync import Lambda

        class LegacyLambda(Lambda):
            def process(self):
                return "ran"

            async def fetch_owner(self, parcel_id):
                return await self.db.core.owners.find_one({"parcel_id": parcel_id})

            @staticmethod
            async def stream_rows():
                yield 1

            def plain_helper(self):
                return 1
    """))
    from aws_helper_sync import lambda_handler

    caplog.set_level(logging.WARNING, logger="aws_helper_sync.loading")
    handler = lambda_handler("legacy")
    event = {"constitution-state": make_state("ohio"), "data": {}}
    first, second = handler(event, None), handler(event, None)

    assert first == second == {"success": True, "data": "ran"}  # not refused: it may never be called
    warnings = [r for r in caplog.records if r.name == "aws_helper_sync.loading"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    message = warnings[0].getMessage()
    assert "LegacyLambda.fetch_owner, LegacyLambda.stream_rows are defined with 'async def'" in message
    assert "plain_helper" not in message and "process" not in message
    loading.clear_cache()


def test_a_sync_class_is_not_warned_about(caplog):
    from aws_helper_sync import SQSConsumer

    class Clean(SQSConsumer):
        def process_record(self, record):
            return None

        def helper(self):
            yield 1

    caplog.set_level(logging.WARNING, logger="aws_helper_sync.loading")
    loading.check_sync_hooks(Clean)
    assert caplog.records == []


def test_async_hooks_stay_refused():
    from aws_helper_sync import Lambda

    class Legacy(Lambda):
        async def process(self):
            return 1

    with pytest.raises(loading.AsyncHookError, match="Legacy.process is defined with 'async def'"):
        loading.check_sync_hooks(Legacy)


# --- the pymongo floor: cursor.to_list() -------------------------------------------------

def test_pymongo_floor_has_cursor_to_list():
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    dependencies = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    # Cursor.to_list() and CommandCursor.to_list() arrived in PyMongo 4.9
    assert re.findall(r'"(pymongo[^"]*)"', dependencies) == ["pymongo>=4.9"]
    from pymongo.command_cursor import CommandCursor
    from pymongo.cursor import Cursor

    assert hasattr(Cursor, "to_list") and hasattr(CommandCursor, "to_list")


def test_mongo_manager_builds_connection_strings_as_the_async_framework_did():
    from aws_helper_sync import MongoManager

    assert MongoManager.build_connection_string(
        "mongodb+srv://cluster.mongodb.net", username="admin", password="my@pass:word",
        database="core", options="retryWrites=true&w=majority",
    ) == "mongodb+srv://admin:my%40pass%3Aword@cluster.mongodb.net/core?retryWrites=true&w=majority"
