"""Tables on DynamoDB (boto3). Same semantics as the SQLite adapter: conditional writes become
condition expressions, `Update` becomes one UpdateItem expression, batch writes retry unprocessed
items, queries and scans paginate on LastEvaluatedKey."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from bioims.store.itemops import to_plain
from bioims.store.ports import Condition, ConditionFailed, Item, ItemNotFound, Page, SortKey, Update
from bioims.tables import TableSpec


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_dynamo(v) for v in value]
    return value


class DynamoTable:
    """`resource` is a boto3 DynamoDB resource, or a callable giving the calling thread's own one
    (boto3 resources must not be shared between threads)."""

    def __init__(self, spec: TableSpec, physical_name: str, resource):
        self.spec = spec
        self.physical_name = physical_name
        self._resource = resource if callable(resource) else (lambda: resource)
        self._local = threading.local()

    @property
    def _table(self):
        table = getattr(self._local, "table", None)
        if table is None:
            table = self._local.table = self._resource().Table(self.physical_name)
        return table

    def _key(self, key: Item) -> Item:
        pk, sk = key.get(self.spec.partition_key), key.get(self.spec.sort_key)
        if not isinstance(pk, str) or not isinstance(sk, str) or not pk or not sk:
            raise ValueError(
                f"{self.spec.name}: key needs non-empty strings {self.spec.partition_key!r} and {self.spec.sort_key!r}"
            )
        return {self.spec.partition_key: pk, self.spec.sort_key: sk}

    def _condition(self, condition: Condition | None):
        if condition is None:
            return None
        parts = []
        if condition.exists is True:
            parts.append(Attr(self.spec.partition_key).exists())
        elif condition.exists is False:
            parts.append(Attr(self.spec.partition_key).not_exists())
        for attribute, expected in condition.equals.items():
            parts.append(Attr(attribute).not_exists() if expected is None else Attr(attribute).eq(_to_dynamo(expected)))
        if not parts:
            return None
        expression = parts[0]
        for part in parts[1:]:
            expression = expression & part
        return expression

    def _call(self, fn, key_for_error: Item, **kwargs):
        try:
            return fn(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConditionFailed(f"{self.spec.name}: condition failed for {key_for_error}") from exc
            raise

    def get(self, key: Item, *, consistent: bool = True) -> Item | None:
        response = self._table.get_item(Key=self._key(key), ConsistentRead=consistent)
        item = response.get("Item")
        return to_plain(item) if item is not None else None

    def put(self, item: Item, *, condition: Condition | None = None) -> None:
        key = self._key(item)
        kwargs: dict = {"Item": _to_dynamo(item)}
        expression = self._condition(condition)
        if expression is not None:
            kwargs["ConditionExpression"] = expression
        self._call(self._table.put_item, key, **kwargs)

    def update(self, key: Item, update: Update, *, condition: Condition | None = None) -> Item:
        clean_key = self._key(key)
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets, removes, adds = [], [], []

        def name(attribute: str) -> str:
            placeholder = f"#upd{len(names)}"
            names[placeholder] = attribute
            return placeholder

        def value(v: Any) -> str:
            placeholder = f":upd{len(values)}"
            values[placeholder] = _to_dynamo(v)
            return placeholder

        for attribute, v in update.set_if_missing.items():
            n = name(attribute)
            sets.append(f"{n} = if_not_exists({n}, {value(v)})")
        for attribute, v in update.set.items():
            sets.append(f"{name(attribute)} = {value(v)}")
        for attribute in update.remove:
            removes.append(name(attribute))
        for attribute, delta in update.add.items():
            adds.append(f"{name(attribute)} {value(delta)}")
        for attribute, items in update.append.items():
            n = name(attribute)
            sets.append(f"{n} = list_append(if_not_exists({n}, {value([])}), {value(list(items))})")
        clauses = []
        if sets:
            clauses.append("SET " + ", ".join(sets))
        if removes:
            clauses.append("REMOVE " + ", ".join(removes))
        if adds:
            clauses.append("ADD " + ", ".join(adds))
        if not clauses:
            # Nothing to change: still honour the condition and create the item if allowed.
            clauses.append(f"SET {name(self.spec.partition_key)} = {value(clean_key[self.spec.partition_key])}")
        kwargs: dict = {
            "Key": clean_key,
            "UpdateExpression": " ".join(clauses),
            "ExpressionAttributeNames": names,
            "ReturnValues": "ALL_NEW",
        }
        if values:
            kwargs["ExpressionAttributeValues"] = values
        expression = self._condition(condition)
        if expression is not None:
            kwargs["ConditionExpression"] = expression
        response = self._call(self._table.update_item, clean_key, **kwargs)
        return to_plain(response["Attributes"])

    def delete(self, key: Item, *, condition: Condition | None = None) -> Item | None:
        clean_key = self._key(key)
        kwargs: dict = {"Key": clean_key, "ReturnValues": "ALL_OLD"}
        expression = self._condition(condition)
        if expression is not None:
            kwargs["ConditionExpression"] = expression
        try:
            response = self._call(self._table.delete_item, clean_key, **kwargs)
        except ConditionFailed:
            if condition is not None and condition.exists:
                raise ItemNotFound(f"{self.spec.name}: no item {key}") from None
            raise
        old = response.get("Attributes")
        return to_plain(old) if old else None

    def query(
        self,
        partition: str,
        sort: SortKey | None = None,
        *,
        index: str | None = None,
        limit: int | None = None,
        start_key: Item | None = None,
        descending: bool = False,
    ) -> Page:
        if index is None:
            pk_name, sk_name = self.spec.partition_key, self.spec.sort_key
        else:
            spec = self.spec.index(index)
            pk_name, sk_name = spec.partition_key, spec.sort_key
        expression = Key(pk_name).eq(partition)
        if sort is not None:
            expression = expression & _sort_expression(Key(sk_name), sort)
        kwargs: dict = {"KeyConditionExpression": expression, "ScanIndexForward": not descending}
        if index is not None:
            kwargs["IndexName"] = index
        if limit is not None:
            kwargs["Limit"] = int(limit)
        if start_key is not None:
            kwargs["ExclusiveStartKey"] = start_key
        response = self._table.query(**kwargs)
        return Page([to_plain(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey"))

    def query_all(
        self,
        partition: str,
        sort: SortKey | None = None,
        *,
        index: str | None = None,
        descending: bool = False,
    ) -> Iterator[Item]:
        start = None
        while True:
            page = self.query(partition, sort, index=index, start_key=start, descending=descending)
            yield from page.items
            if not page.next_key:
                return
            start = page.next_key

    def batch_write(self, puts: Sequence[Item] = (), deletes: Sequence[Item] = ()) -> None:
        requests = [{"PutRequest": {"Item": _to_dynamo(item)}} for item in puts]
        requests += [{"DeleteRequest": {"Key": self._key(key)}} for key in deletes]
        client = self._table.meta.client
        for start in range(0, len(requests), 25):
            pending = {self.physical_name: requests[start : start + 25]}
            delay = 0.05
            while pending:
                response = client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if pending:
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)

    def scan(self, *, limit: int | None = None, start_key: Item | None = None) -> Page:
        kwargs: dict = {}
        if limit is not None:
            kwargs["Limit"] = int(limit)
        if start_key is not None:
            kwargs["ExclusiveStartKey"] = start_key
        response = self._table.scan(**kwargs)
        return Page([to_plain(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey"))

    def scan_all(self) -> Iterator[Item]:
        start = None
        while True:
            page = self.scan(start_key=start)
            yield from page.items
            if not page.next_key:
                return
            start = page.next_key

    def count(self) -> int:
        total, start = 0, None
        while True:
            kwargs: dict = {"Select": "COUNT"}
            if start:
                kwargs["ExclusiveStartKey"] = start
            response = self._table.scan(**kwargs)
            total += response["Count"]
            start = response.get("LastEvaluatedKey")
            if not start:
                return total


def _sort_expression(key: Key, sort: SortKey):
    if sort.op == "eq":
        return key.eq(sort.value)
    if sort.op == "begins_with":
        return key.begins_with(sort.value)
    if sort.op == "between":
        return key.between(sort.value, sort.upper)
    boto_names = {"lt": "lt", "le": "lte", "gt": "gt", "ge": "gte"}
    return getattr(key, boto_names[sort.op])(sort.value)


def create_table(client, spec: TableSpec, physical_name: str | None = None) -> None:
    """Create a table as the CDK stack would (on-demand, string keys, GSIs projecting all);
    used by tests against moto and by `bioims` tooling for ad-hoc accounts."""
    attributes = {spec.partition_key, spec.sort_key}
    for index in spec.indexes:
        attributes |= {index.partition_key, index.sort_key}
    kwargs: dict = {
        "TableName": physical_name or spec.name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
        "KeySchema": [
            {"AttributeName": spec.partition_key, "KeyType": "HASH"},
            {"AttributeName": spec.sort_key, "KeyType": "RANGE"},
        ],
    }
    if spec.indexes:
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ]
    client.create_table(**kwargs)
