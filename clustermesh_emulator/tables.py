"""Server-side printing: the ``meta.k8s.io/v1`` Table that ``kubectl get`` asks for.

Only the columns a person checks while debugging a run are filled in; kinds without their own
columns show name and age.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import resources as r
from .resources import Resource

Obj = dict[str, Any]

TABLE_MEDIA = "as=Table"
"""What kubectl puts in ``Accept`` when it wants a Table."""


def age(stamp: str | None) -> str:
    if not stamp:
        return "<unknown>"
    then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    seconds = int((datetime.now(UTC) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _pod(pod: Obj) -> list[Any]:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    shown = pod.get("status", {}).get("phase", "Unknown")
    for container_status in statuses:
        waiting = container_status.get("state", {}).get("waiting")
        if waiting:
            shown = waiting.get("reason", shown)
    restarts = sum(s.get("restartCount", 0) for s in statuses)
    return [f"{ready}/{len(pod['spec']['containers'])}", shown, restarts]


def _deployment(obj: Obj) -> list[Any]:
    status = obj.get("status", {})
    wanted = obj["spec"].get("replicas", 1)
    return [
        f"{status.get('readyReplicas', 0)}/{wanted}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
    ]


def _daemonset(obj: Obj) -> list[Any]:
    status = obj.get("status", {})
    return [
        status.get(key, 0)
        for key in ("desiredNumberScheduled", "currentNumberScheduled", "numberReady")
    ]


def _service(obj: Obj) -> list[Any]:
    spec = obj.get("spec", {})
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports", []))
    return [
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP", "<none>"),
        "<none>",
        ports or "<none>",
    ]


def _event(obj: Obj) -> list[Any]:
    involved = obj.get("involvedObject", {})
    return [
        obj.get("type", ""),
        obj.get("reason", ""),
        f"{involved.get('kind', '').lower()}/{involved.get('name', '')}",
        obj.get("message", ""),
    ]


_COLUMNS: dict[Resource, tuple[list[str], Callable[[Obj], list[Any]]]] = {
    r.PODS: (["Ready", "Status", "Restarts"], _pod),
    r.DEPLOYMENTS: (["Ready", "Up-to-date", "Available"], _deployment),
    r.DAEMONSETS: (["Desired", "Current", "Ready"], _daemonset),
    r.SERVICES: (["Type", "Cluster-IP", "External-IP", "Port(s)"], _service),
    r.NAMESPACES: (["Status"], lambda ns: [ns.get("status", {}).get("phase", "")]),
    r.EVENTS: (["Type", "Reason", "Object", "Message"], _event),
}


_WIDE: dict[Resource, tuple[list[str], Callable[[Obj], list[Any]]]] = {
    r.PODS: (
        ["IP", "Node"],
        lambda pod: [
            pod.get("status", {}).get("podIP", "<none>"),
            pod["spec"].get("nodeName", "<none>"),
        ],
    ),
}
"""Columns kubectl shows only with ``-o wide`` (priority 1)."""


def table(resource: Resource, items: list[Obj], revision: str) -> Obj:
    names, cells = _COLUMNS.get(resource, ([], lambda _: []))
    wide_names, wide_cells = _WIDE.get(resource, ([], lambda _: []))
    columns = [
        {"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}
    ]
    columns += [
        {"name": n, "type": "string", "format": "", "description": "", "priority": 0} for n in names
    ]
    columns.append(
        {"name": "Age", "type": "string", "format": "", "description": "", "priority": 0}
    )
    columns += [
        {"name": n, "type": "string", "format": "", "description": "", "priority": 1}
        for n in wide_names
    ]
    rows = [
        {
            "cells": [
                obj["metadata"]["name"],
                *cells(obj),
                age(obj["metadata"].get("creationTimestamp")),
                *wide_cells(obj),
            ],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            },
        }
        for obj in items
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": revision},
        "columnDefinitions": columns,
        "rows": rows,
    }
