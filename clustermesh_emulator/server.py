"""The HTTP face of a cluster: routing, REST verbs, discovery, faults and the request log."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from . import rbac, status
from . import resources as r
from .exec import serve_exec
from .faults import Decision
from .patch import JSON_PATCH, MERGE, PatchError, json_patch, merge_patch
from .requestlog import LoggedRequest
from .resources import Resource
from .selectors import FieldSelector, Selector, parse_field_selector, parse_label_selector
from .status import ApiError
from .tables import TABLE_MEDIA, table

if TYPE_CHECKING:
    from .cluster import Cluster

Obj = dict[str, Any]

CLUSTER: web.AppKey[Cluster] = web.AppKey("cluster")
HEALTH = ("/healthz", "/livez", "/readyz")
BODY_MEDIA = ("application/json", "application/yaml")


@dataclass(frozen=True)
class Target:
    """What a resource URL points at."""

    resource: Resource
    namespace: str | None
    name: str | None = None
    subresource: str | None = None


def parse_target(path: str) -> Target | None:
    """``/api/v1/namespaces/x/pods/p/exec`` -> pods, ``x``, ``p``, ``exec``; ``None`` if the
    path names nothing served."""
    found = r.split_path(path)
    if found is None or len(found.rest) > 3:
        return None
    resource, namespace, rest = found.resource, found.namespace, found.rest
    if resource.namespaced and namespace is None and len(rest) > 1:
        return None
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if subresource is not None and subresource not in resource.subresources:
        return None
    return Target(resource, namespace, name, subresource)


def _json(body: Any, code: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(body), status=code, content_type="application/json", headers=headers
    )


def _error(error: ApiError) -> web.Response:
    return _json(error.body(), error.code, error.headers)


def _injected(decision: Decision) -> web.Response:
    code = decision.error or 500
    messages = {
        429: "Too many requests, please try again later.",
        500: "Internal error occurred: injected by the emulator",
        503: "the server is currently unable to handle the request",
        504: "the server was unable to return a response in the time allotted, but may still "
        "be processing the request",
    }
    headers = {}
    details: Obj | None = None
    if decision.retry_after is not None:
        headers["Retry-After"] = str(decision.retry_after)
        details = {"retryAfterSeconds": decision.retry_after}
    message = messages.get(code, f"injected {code} from the emulator")
    return _error(ApiError(code, message, details, headers=headers))


@web.middleware
async def faults_and_log(request: web.Request, handler: Any) -> web.StreamResponse:
    """Inject the cluster's faults, then record what was answered."""
    if request.path in HEALTH:
        response: web.StreamResponse = await handler(request)
        return response
    cluster = request.app[CLUSTER]
    started = time.monotonic()
    decision = cluster.faults_injector.decide()
    fault = None
    if decision.latency:
        await asyncio.sleep(decision.latency)
    if decision.drop:
        fault, code = "drop", 0
        if request.transport is not None:
            request.transport.abort()
        response = web.Response(status=500)  # never reaches the client
    elif decision.error:
        fault = "error"
        response = _injected(decision)
        code = response.status
    else:
        try:
            rbac.check(cluster.forbidden, request.method, request.path, request.query_string)
            response = await handler(request)
        except ApiError as error:
            response = _error(error)
        code = response.status
    cluster.request_log.append(
        LoggedRequest(
            request.method,
            request.path,
            request.query_string,
            code,
            fault,
            time.monotonic() - started,
        )
    )
    return response


def build_app(cluster: Cluster) -> web.Application:
    app = web.Application(middlewares=[faults_and_log], client_max_size=16 * 1024 * 1024)
    app[CLUSTER] = cluster
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


async def dispatch(request: web.Request) -> web.StreamResponse:
    cluster = request.app[CLUSTER]
    try:
        return await _route(request, cluster)
    except ApiError as error:
        return _error(error)


def _version(cluster: Cluster) -> Obj:
    major, minor, *_ = cluster.config.kubernetes_version.split(".")
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"v{cluster.config.kubernetes_version}",
        "gitCommit": "0" * 40,
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def _discovery(path: str, cluster: Cluster) -> Obj | None:
    parts = [p for p in path.split("/") if p]
    if parts == ["version"]:
        return _version(cluster)
    if parts == ["api"]:
        return r.api_versions(f"127.0.0.1:{cluster.port}")
    if parts == ["apis"]:
        return r.api_group_list()
    if len(parts) == 2 and parts[0] == "apis":
        return r.api_group(parts[1]) or {}
    if parts == ["api", "v1"]:
        return r.api_resource_list("", "v1")
    if len(parts) == 3 and parts[0] == "apis":
        return r.api_resource_list(parts[1], parts[2]) or {}
    return None


async def _route(request: web.Request, cluster: Cluster) -> web.StreamResponse:
    if request.path in HEALTH:
        return web.Response(text="ok")
    document = _discovery(request.path, cluster)
    if document is not None:
        if not document:
            raise status.path_not_found()
        if request.method != "GET":
            raise status.method_not_allowed(request.method)
        return _json(document)
    target = parse_target(request.path)
    if target is None:
        raise status.path_not_found()
    if target.subresource == "exec":
        assert target.namespace is not None and target.name is not None
        return await serve_exec(request, cluster, target.namespace, target.name)
    if target.name is None:
        return await _collection(request, cluster, target)
    return await _object(request, cluster, target)


# ---------------------------------------------------------------------------------------------
# request helpers


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if raw and ("protobuf" in request.content_type or "cbor" in request.content_type):
        raise status.unsupported_media_type(request.content_type, BODY_MEDIA)
    try:
        if "yaml" in request.content_type:
            return yaml.safe_load(raw)
        return json.loads(raw or b"null")
    except (ValueError, yaml.YAMLError) as exc:
        raise status.bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc


def _selectors(request: web.Request, resource: Resource) -> tuple[Selector, FieldSelector]:
    try:
        labels = parse_label_selector(request.query.get("labelSelector", ""))
        fields = parse_field_selector(
            request.query.get("fieldSelector", ""), (*r.COMMON_FIELDS, *resource.field_labels)
        )
    except ValueError as exc:
        raise status.bad_request(str(exc)) from exc
    return labels, fields


def _dry_run(request: web.Request, options: Any = None) -> bool:
    if "All" in request.query.getall("dryRun", []):
        return True
    return isinstance(options, dict) and "All" in (options.get("dryRun") or [])


def _wants_table(request: web.Request) -> bool:
    return TABLE_MEDIA in request.headers.get("Accept", "")


def _list_body(cluster: Cluster, resource: Resource, items: list[Obj]) -> Obj:
    if resource.builtin:
        # Typed lists carry kind/apiVersion once, not on each item.
        items = [
            {k: v for k, v in item.items() if k not in ("kind", "apiVersion")} for item in items
        ]
    return {
        "kind": f"{resource.kind}List",
        "apiVersion": resource.api_version,
        "metadata": {"resourceVersion": cluster.store.revision},
        "items": items,
    }


# ---------------------------------------------------------------------------------------------
# verbs


async def _collection(request: web.Request, cluster: Cluster, target: Target) -> web.Response:
    resource, namespace = target.resource, target.namespace
    if request.method == "GET":
        if request.query.get("watch") in ("1", "true", "True"):
            raise ApiError(405, "watch is not supported by the emulator", {})
        labels, fields = _selectors(request, resource)
        items = cluster.store.list_objects(resource, namespace, labels, fields)
        if _wants_table(request):
            return _json(table(resource, items, cluster.store.revision))
        return _json(_list_body(cluster, resource, items))
    if request.method == "POST":
        if resource.namespaced and namespace is None:
            raise status.method_not_allowed("POST")
        body = await _body(request)
        created = cluster.store.create(resource, namespace, body, dry_run=_dry_run(request))
        return _json(created, 201)
    if request.method == "DELETE" and resource is not r.NAMESPACES:
        labels, fields = _selectors(request, resource)
        options = await _body(request)
        deleted = cluster.store.delete_collection(
            resource,
            namespace,
            labels,
            fields,
            propagation=_propagation(request, options),
            dry_run=_dry_run(request, options),
        )
        return _json(_list_body(cluster, resource, deleted))
    raise status.method_not_allowed(request.method)


def _propagation(request: web.Request, options: Any) -> str | None:
    if isinstance(options, dict) and options.get("propagationPolicy"):
        return str(options["propagationPolicy"])
    return request.query.get("propagationPolicy")


async def _object(request: web.Request, cluster: Cluster, target: Target) -> web.Response:
    resource, namespace, name = target.resource, target.namespace, str(target.name)
    sub, store, method = target.subresource, cluster.store, request.method
    if sub == "log":
        if method != "GET":
            raise status.method_not_allowed(method)
        return _log(request, cluster, str(namespace), name)
    if sub == "scale":
        return await _scale(request, cluster, target)
    if method == "GET":
        obj = store.get(resource, namespace, name)
        if _wants_table(request):
            return _json(table(resource, [obj], store.revision))
        return _json(obj)
    if method == "PUT":
        body = await _body(request)
        return _json(
            store.replace(
                resource, namespace, name, body, subresource=sub, dry_run=_dry_run(request)
            )
        )
    if method == "PATCH":
        body = await _body(request)
        return _json(
            store.patch(
                resource,
                namespace,
                name,
                request.content_type,
                body,
                subresource=sub,
                dry_run=_dry_run(request),
            )
        )
    if method == "DELETE" and sub is None:
        options = await _body(request)
        deleted = store.delete(
            resource,
            namespace,
            name,
            propagation=_propagation(request, options),
            dry_run=_dry_run(request, options),
        )
        if resource.delete_returns_object:
            return _json(deleted)
        return _json(status.success(resource, name, deleted["metadata"]["uid"]))
    raise status.method_not_allowed(method)


def _log(request: web.Request, cluster: Cluster, namespace: str, name: str) -> web.Response:
    pod = cluster.store.get(r.PODS, namespace, name)
    containers = [c["name"] for c in pod["spec"]["containers"]]
    container = request.query.get("container")
    if container is None:
        if len(containers) > 1:
            raise status.bad_request(
                f"a container name must be specified for pod {name}, choose one of: "
                f"[{' '.join(containers)}]"
            )
        container = containers[0]
    elif container not in containers:
        raise status.bad_request(f"container {container} is not valid for pod {name}")
    for container_status in pod.get("status", {}).get("containerStatuses") or [
        {"name": container, "state": {"waiting": {"reason": "ContainerCreating"}}}
    ]:
        waiting = container_status["state"].get("waiting")
        if container_status["name"] == container and waiting:
            reason = waiting.get("reason", "ContainerCreating")
            if reason in ("ErrImagePull", "ImagePullBackOff"):
                reason = "trying and failing to pull image"
            raise status.bad_request(
                f'container "{container}" in pod "{name}" is waiting to start: {reason}'
            )
    text = cluster.pod_log(namespace, name, container)
    tail = request.query.get("tailLines")
    if tail is not None and tail.isdigit():
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-int(tail) :]) if int(tail) else ""
    return web.Response(text=text, content_type="text/plain")


async def _scale(request: web.Request, cluster: Cluster, target: Target) -> web.Response:
    """``deployments/scale``: an ``autoscaling/v1`` Scale view of ``spec.replicas``."""
    namespace, name = target.namespace, str(target.name)

    def view(deployment: Obj) -> Obj:
        meta = deployment["metadata"]
        selector = deployment["spec"].get("selector", {}).get("matchLabels", {})
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": deployment["spec"].get("replicas", 1)},
            "status": {
                "replicas": deployment.get("status", {}).get("replicas", 0),
                "selector": ",".join(f"{k}={v}" for k, v in selector.items()),
            },
        }

    store = cluster.store
    if request.method == "GET":
        return _json(view(store.get(r.DEPLOYMENTS, namespace, name)))
    if request.method not in ("PUT", "PATCH"):
        raise status.method_not_allowed(request.method)
    body = await _body(request)
    with store.lock:
        current = view(store.get(r.DEPLOYMENTS, namespace, name))
        if request.method == "PATCH":
            try:
                if request.content_type == JSON_PATCH:
                    body = json_patch(current, body)
                else:
                    body = merge_patch(current, body)
            except PatchError as exc:
                raise ApiError(422, str(exc)) from exc
        replicas = (body or {}).get("spec", {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise status.bad_request("spec.replicas must be a non-negative integer")
        updated = store.patch(
            r.DEPLOYMENTS, namespace, name, MERGE, {"spec": {"replicas": replicas}}
        )
    return _json(view(updated))
