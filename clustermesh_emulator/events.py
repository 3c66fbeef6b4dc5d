"""core/v1 Events as kubelet and the controllers record them.

A repeated event (same object, reason and message) bumps ``count`` and ``lastTimestamp`` of the
existing one instead of adding another, like the real event recorder.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from . import resources as r
from .defaults import timestamp
from .status import ApiError
from .store import Store

Obj = dict[str, Any]


def involved_object(obj: Obj, field_path: str | None = None) -> Obj:
    meta = obj["metadata"]
    reference = {
        "kind": obj["kind"],
        "namespace": meta.get("namespace"),
        "name": meta["name"],
        "uid": meta["uid"],
        "apiVersion": obj["apiVersion"],
        "resourceVersion": meta.get("resourceVersion"),
    }
    if field_path:
        reference["fieldPath"] = field_path
    return {k: v for k, v in reference.items() if v is not None}


def record(
    store: Store,
    obj: Obj,
    event_type: str,
    reason: str,
    message: str,
    *,
    component: str = "kubelet",
    host: str | None = None,
    field_path: str | None = None,
) -> None:
    """Record an event about ``obj``; silently dropped if its namespace is going away."""
    namespace = obj["metadata"].get("namespace") or "default"
    uid = obj["metadata"]["uid"]
    now = timestamp()
    with store.lock:
        for existing in store.list_objects(r.EVENTS, namespace):
            if (
                existing["involvedObject"].get("uid") == uid
                and existing["reason"] == reason
                and existing["message"] == message
            ):

                def bump(event: Obj) -> None:
                    event["count"] = event.get("count", 1) + 1
                    event["lastTimestamp"] = now

                store.mutate(r.EVENTS, namespace, existing["metadata"]["name"], bump)
                return
        source = {"component": component, **({"host": host} if host else {})}
        event = {
            "metadata": {"name": f"{obj['metadata']['name']}.{secrets.token_hex(8)}"},
            "involvedObject": involved_object(obj, field_path),
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": event_type,
            "reportingComponent": component,
            "reportingInstance": host or "",
        }
        # A terminating namespace refuses events: the real recorder loses those too.
        with contextlib.suppress(ApiError):
            store.create(r.EVENTS, namespace, event)
