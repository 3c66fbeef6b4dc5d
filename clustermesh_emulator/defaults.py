"""Defaulting of new and updated objects, the part that does not depend on cluster state.

Only the defaults a client could notice are filled in. State-dependent ones (uid, resource
version, ClusterIP, node) are the store's and the admission steps' business.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from . import resources as r
from .resources import Resource

Obj = dict[str, Any]


def timestamp(moment: datetime | None = None) -> str:
    """RFC 3339 with second precision, as Kubernetes writes ``creationTimestamp``."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_pull_policy(image: str) -> str:
    name = image.split("@")[0].rsplit("/", 1)[-1]
    tag = name.split(":")[1] if ":" in name else "latest"
    return "Always" if tag == "latest" and "@" not in image else "IfNotPresent"


def default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = spec["serviceAccount"] = account
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if not isinstance(container, dict):
            continue
        container.setdefault("imagePullPolicy", image_pull_policy(str(container.get("image"))))
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def _default_template(spec: Obj) -> None:
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"])


def _default_deployment(spec: Obj) -> None:
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    spec.setdefault(
        "strategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
    )
    _default_template(spec)


def _default_daemonset(spec: Obj) -> None:
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault(
        "updateStrategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
    )
    _default_template(spec)


def _default_service(spec: Obj) -> None:
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))


_SPEC_DEFAULTS = {
    r.PODS: default_pod_spec,
    r.DEPLOYMENTS: _default_deployment,
    r.DAEMONSETS: _default_daemonset,
    r.SERVICES: _default_service,
}

INITIAL_STATUS: dict[Resource, Obj] = {
    r.PODS: {"phase": "Pending", "qosClass": "BestEffort"},
    r.NAMESPACES: {"phase": "Active"},
    r.DEPLOYMENTS: {},
    r.DAEMONSETS: {
        "currentNumberScheduled": 0,
        "desiredNumberScheduled": 0,
        "numberMisscheduled": 0,
        "numberReady": 0,
    },
    r.SERVICES: {"loadBalancer": {}},
}


def apply_defaults(resource: Resource, obj: Obj) -> None:
    """Fill in spec defaults in place; safe to call again on an updated object."""
    if resource is r.NAMESPACES:
        name = obj["metadata"].get("name", "")
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    elif resource is r.SECRETS:
        obj.setdefault("type", "Opaque")
    default = _SPEC_DEFAULTS.get(resource)
    if default is not None and isinstance(obj.get("spec"), dict):
        default(obj["spec"])


_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""The alphabet of Kubernetes' random name suffixes (no vowels, no look-alike digits)."""


def random_suffix(rng: random.Random, length: int = 5) -> str:
    """A ``generateName``-style suffix, like the ``x7k2q`` of ``web-5d9c7f8b6d-x7k2q``."""
    return "".join(rng.choice(_SUFFIX_ALPHABET) for _ in range(length))
