"""schemathesis hooks for `.ci/schemathesis` (the reasons are in .ci/schemathesis.md).

- NDJSON (`application/x-ndjson`): the audit ingest body and the export answer, documented as
  an array of events sent one per line.
- Rules the document cannot state, applied to generated values: `to` comes after `from` (and
  the export window is at most the configured 90 days); an integer is a JSON integer (`5`,
  never `5.0`).
"""

import json
from datetime import datetime, timedelta

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson_serializer(ctx, value):
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(item) + "\n" for item in items).encode()


@schemathesis.deserializer("application/x-ndjson")
def ndjson_deserializer(ctx, response):
    return [json.loads(line) for line in response.content.decode().splitlines() if line]


def _time(value):
    try:
        return datetime.fromisoformat(str(value).replace("z", "Z").replace("t", "T"))
    except ValueError:
        return None


@schemathesis.hook
def map_query(ctx, query):
    if not isinstance(query, dict):
        return query
    start, end = _time(query.get("from")), _time(query.get("to"))
    if start is not None and end is not None:
        export = ctx.operation is not None and ctx.operation.path.endswith("/export")
        try:
            bad = end <= start or (export and end - start > timedelta(days=90))
        except TypeError:
            bad = False
        if bad:
            try:
                query["to"] = (start + timedelta(hours=1)).isoformat()
            except OverflowError:
                query.pop("to")
    return query


def _integers(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integers(v) for v in value]
    if isinstance(value, dict):
        return {k: _integers(v) for k, v in value.items()}
    return value


@schemathesis.hook
def map_body(ctx, body):
    return _integers(body)
