"""What an API request asks authorization for, and emulated RBAC denials.

A real API server authorizes every resource request by its *attributes*: the verb, the API
group, the resource (with its subresource, ``pods/exec``), the namespace and the name. The verbs
follow the HTTP method as kube-apiserver maps them (``k8s.io/apiserver``
``pkg/endpoints/request/requestinfo.go``, ``RequestInfoFactory.NewRequestInfo``): GET on a
collection is ``list`` (``watch`` with ``?watch=true``), on an object ``get``; POST ``create``; PUT
``update``; PATCH ``patch``; DELETE ``delete``, or ``deletecollection`` on a collection. An
exec over websocket arrives as a GET, authorized as ``get`` on ``pods/exec`` up to Kubernetes
1.34; from 1.35 the API server also requires ``create`` for it (kubernetes#134577, KEP-4006,
feature gate ``AuthorizePodWebsocketUpgradeCreatePermission``, beta and on by default), which is
the verb every version's SPDY exec needs too, so it is reported as ``create``.

:func:`attributes` serves both the emulator's :class:`Forbidden` rules (a test makes an API
server refuse, say, exec in ``kube-system`` as a least-privilege account would) and the test
that checks the RBAC manifest of ``docs/real-clusters.md`` against the request log.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from urllib.parse import parse_qs

from . import resources as r
from .status import ApiError


@dataclass(frozen=True)
class Attributes:
    """The authorization attributes of one resource request."""

    verb: str
    group: str
    resource: str
    """The plural, with ``/subresource`` when there is one: ``pods/exec``."""
    namespace: str | None
    name: str | None

    @property
    def rule(self) -> tuple[str, str, str]:
        """``(group, resource, verb)``: what an RBAC rule grants."""
        return (self.group, self.resource, self.verb)


def attributes(method: str, path: str, query: str = "") -> Attributes | None:
    """The attributes of a request to ``path``; ``None`` for non-resource URLs (discovery,
    ``/version``, health), which the default ``system:discovery`` role allows everyone."""
    found = r.split_path(path)
    if found is None:
        return None
    rest = found.rest
    name = rest[1] if len(rest) > 1 else None
    plural = found.resource.plural + (f"/{rest[2]}" if len(rest) > 2 else "")
    verb = _verb(method, name is not None, query, plural)
    return Attributes(verb, found.group, plural, found.namespace, name)


def _verb(method: str, named: bool, query: str, resource: str) -> str:
    if resource == "pods/exec":
        return "create"
    if method == "GET":
        if not named:
            watching = parse_qs(query).get("watch", ["false"])[0] in ("1", "true")
            return "watch" if watching else "list"
        return "get"
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


@dataclass(frozen=True)
class Forbidden:
    """An RBAC denial: requests matching it are answered 403 Forbidden."""

    verb: str
    resource: str
    """``pods``, ``pods/exec``...; ``*`` for any."""
    namespace: str | None = None
    """``None``: in every namespace."""
    user: str = "system:serviceaccount:ci:clustermesh-runner"
    """Who the API server says was refused."""

    def matches(self, request: Attributes) -> bool:
        return (
            fnmatch.fnmatchcase(request.verb, self.verb)
            and fnmatch.fnmatchcase(request.resource, self.resource)
            and (self.namespace is None or request.namespace == self.namespace)
        )

    def error(self, request: Attributes) -> ApiError:
        """The Status kube-apiserver answers (``k8s.io/apiserver``
        ``pkg/endpoints/handlers/responsewriters/errors.go``, ``forbiddenMessage``)."""
        group = f'in API group "{request.group}"'
        scope = f' in the namespace "{request.namespace}"' if request.namespace else ""
        why = (
            f'User "{self.user}" cannot {request.verb} resource "{request.resource}" {group}{scope}'
        )
        kind = request.resource.split("/", 1)[0]
        details: dict[str, str] = {"kind": kind}
        if request.group:
            details["group"] = request.group
        if request.name:
            details["name"] = request.name
            qualified = f"{kind}.{request.group}" if request.group else kind
            return ApiError(403, f'{qualified} "{request.name}" is forbidden: {why}', details)
        qualified = f"{kind}.{request.group}" if request.group else kind
        return ApiError(403, f"{qualified} is forbidden: {why}", details)


def check(rules: list[Forbidden], method: str, path: str, query: str) -> None:
    """Raise the 403 of the first rule the request matches."""
    if not rules:
        return
    request = attributes(method, path, query)
    if request is None:
        return
    for rule in rules:
        if rule.matches(request):
            raise rule.error(request)


__all__ = ["Attributes", "Forbidden", "attributes", "check"]
