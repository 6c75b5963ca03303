"""What JSON Schema cannot say about keygate's requests, for schemathesis.

The document states every constraint a schema can carry. A few rules depend
on the clock, on another parameter or on what the server handed out before,
and openapi.json states them in prose only:

- `expires_at` must be in the future;
- `meta` is at most 1024 bytes as JSON;
- verify's `ip` comes with a `key` (an `if`/`then` the generator may not follow);
- an `allowed_ips` block has no bits set after its prefix, and its prefix
  length fits its address (the patterns only say "address/digits");
- usage `from` must not be after `to`, and the range is at most 7 days by
  hour and 90 days by day; audit `since` must not be after `until`;
- a `cursor` is one a previous page returned (the ones the server handed
  out, which stateful sequences follow, are kept).

A case schemathesis generated as valid ("positive") gets values within those
rules here, just before it is sent, so it is judged on what the document
promises. Negative cases are left as generated: whatever they break, the
server must refuse.
"""

from datetime import datetime, timedelta, timezone
import ipaddress
import json

import schemathesis
from schemathesis.generation.modes import GenerationMode

HOUR_RANGE = timedelta(days=7)
DAY_RANGE = timedelta(days=90)
MAX_META_BYTES = 1024
# The cursors each list (by path template) answered with: only these are its pages'.
HANDED_OUT = {}


def _time(text):
    """`text` as an aware datetime when it is RFC 3339, else None."""
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _rfc3339(moment):
    utc = moment.astimezone(timezone.utc)
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"


def _positive(case):
    meta = case.meta
    return meta is not None and meta.generation.mode == GenerationMode.POSITIVE


def _fix_body(body, now):
    if not isinstance(body, dict):
        return
    expires = _time(body.get("expires_at"))
    if expires is not None and expires <= now + timedelta(minutes=5):
        body["expires_at"] = _rfc3339(now + timedelta(days=30))
    meta = body.get("meta")
    if isinstance(meta, dict) and len(json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode()) > MAX_META_BYTES:
        body["meta"] = {}
    if isinstance(body.get("ip"), str) and not isinstance(body.get("key"), str):
        body.pop("ip")
    allowed = body.get("allowed_ips")
    if isinstance(allowed, list):
        body["allowed_ips"] = [_block(entry) for entry in allowed]


def _block(entry):
    """A block "address/digits" as the network it names (bits after the prefix cleared), else a fixed block."""
    if not isinstance(entry, str) or "/" not in entry:
        return entry
    try:
        return str(ipaddress.ip_network(entry, strict=False))
    except ValueError:
        return "192.0.2.0/24"


def _fix_query(query, now, handed_out):
    if not isinstance(query, dict):
        return
    # A made-up cursor, or another list's, is never one of this list's pages.
    if query.get("cursor") not in handed_out:
        query.pop("cursor", None)
    since, until = _time(query.get("since")), _time(query.get("until"))
    if since is not None and until is not None and since > until:
        query["since"], query["until"] = query["until"], query["since"]
    if "granularity" in query or "from" in query or "to" in query:
        span = DAY_RANGE if query.get("granularity") == "day" else HOUR_RANGE
        to = _time(query.get("to")) or now
        start = _time(query.get("from"))
        if start is not None and (start > to or to - start > span):
            try:
                query["from"] = _rfc3339(to - span / 2)
            except OverflowError:
                query.pop("from")


@schemathesis.hook
def after_call(ctx, case, response):
    try:
        cursor = response.json().get("cursor")
    except Exception:
        return
    if isinstance(cursor, str):
        HANDED_OUT.setdefault(case.operation.path, set()).add(cursor)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if not _positive(case):
        return
    now = datetime.now(timezone.utc)
    _fix_body(case.body, now)
    _fix_query(case.query, now, HANDED_OUT.get(case.operation.path, set()))
