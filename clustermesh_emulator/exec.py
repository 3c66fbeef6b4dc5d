"""``pods/exec`` over websockets, speaking the channel protocol kubectl and ``kubernetes.stream``
use (``v5.channel.k8s.io``, ``v4.channel.k8s.io``).

Every binary frame starts with its channel: 1 stdout, 2 stderr, 3 status. The command itself
is handed to a pluggable async :data:`ExecHandler`; what it returns is sent as stdout, stderr and
a status frame, and the server closes. Clients derive the exit code from that status frame
once the socket is closed, so the order (output, status, close) matters.

While the handler runs, the pod is watched: if it is deleted, the handler is cancelled and the
session ends with exit code 137, as when the runtime SIGKILLs the container's processes. If the
client goes away, the handler is cancelled and nothing more is sent. Input (stdin, terminal
resizes) is read and ignored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, web

from . import resources as r
from . import status

if TYPE_CHECKING:
    from .cluster import Cluster

log = logging.getLogger(__name__)

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDOUT, STDERR, STATUS = 1, 2, 3
KILLED = 137


@dataclass(frozen=True)
class ExecRequest:
    """One exec, as the handler sees it."""

    cluster: str
    """Logical name of the cluster."""
    namespace: str
    pod: str
    container: str | None
    """The container exec'd into: the requested one, else the pod's default (first) one."""
    command: list[str]
    pod_object: dict[str, Any]
    """The pod as stored when the exec started (labels, IPs, node...)."""


@dataclass(frozen=True)
class ExecResult:
    stdout: str
    stderr: str = ""
    exit_code: int = 0


ExecHandler = Callable[[ExecRequest], Awaitable[ExecResult]]


async def default_exec_handler(request: ExecRequest) -> ExecResult:
    """What a container without the tool answers: exit code 126 and runc's message."""
    program = request.command[0] if request.command else ""
    message = (
        "OCI runtime exec failed: exec failed: unable to start container process: exec: "
        f'"{program}": executable file not found in $PATH: unknown\n'
    )
    return ExecResult("", message, 126)


def status_frame(command: list[str], exit_code: int) -> dict[str, Any]:
    """The channel-3 payload for an exit code, as kubelet words it."""
    if exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    error = f"error executing command [{' '.join(command)}], exit code {exit_code}"
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: {error}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }


def _internal_error(message: str) -> dict[str, Any]:
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {message}",
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }


def _container(pod: dict[str, Any], wanted: str | None) -> str:
    names: list[str] = [str(c["name"]) for c in pod["spec"]["containers"]]
    pod_name = pod["metadata"]["name"]
    if wanted is None:
        default = (pod["metadata"].get("annotations") or {}).get(
            "kubectl.kubernetes.io/default-container"
        )
        if default in names:
            return str(default)
        if len(names) > 1:
            raise status.bad_request(
                f"a container name must be specified for pod {pod_name}, choose one of: "
                f"[{' '.join(names)}]"
            )
        return names[0]
    if wanted not in names:
        raise status.bad_request(f"container {wanted} is not valid for pod {pod_name}")
    return wanted


def _check_runnable(pod: dict[str, Any], container: str) -> None:
    phase = pod.get("status", {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise status.bad_request(
            f"cannot exec into a container in a completed pod; current phase is {phase}"
        )
    for container_status in pod.get("status", {}).get("containerStatuses") or []:
        if container_status["name"] == container and "running" in container_status["state"]:
            return
    raise status.bad_request(f'unable to upgrade connection: container not found ("{container}")')


async def serve_exec(
    request: web.Request, cluster: Cluster, namespace: str, name: str
) -> web.StreamResponse:
    """Check the request like the API server would, upgrade, run the handler, report."""
    pod = cluster.store.get(r.PODS, namespace, name)
    container = _container(pod, request.query.get("container"))
    _check_runnable(pod, container)
    command = request.query.getall("command", [])
    if not command:
        raise status.bad_request("you must specify at least 1 command")
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise status.bad_request("Upgrade request required")
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if not any(p in PROTOCOLS for p in offered):
        raise status.bad_request(f"none of the websocket subprotocols {offered} is supported")

    ws = web.WebSocketResponse(protocols=PROTOCOLS, timeout=2.0)
    await ws.prepare(request)
    exec_request = ExecRequest(cluster.name, namespace, name, container, command, pod)
    cluster.sessions.add(ws)
    try:
        await _session(ws, cluster, exec_request, pod["metadata"]["uid"])
    finally:
        cluster.sessions.discard(ws)
    return ws


async def _session(
    ws: web.WebSocketResponse, cluster: Cluster, request: ExecRequest, uid: str
) -> None:
    loop = asyncio.get_running_loop()
    deleted = asyncio.Event()

    def watch(event: str, obj: dict[str, Any]) -> None:
        if event == "DELETED" and obj["metadata"].get("uid") == uid:
            loop.call_soon_threadsafe(deleted.set)

    async def run() -> ExecResult:
        delay = cluster.faults_injector.exec_delay()
        if delay:
            await asyncio.sleep(delay)
        return await cluster.exec_handler(request)

    async def drain_input() -> None:
        async for _ in ws:
            pass

    unsubscribe = cluster.store.subscribe(watch)
    current = cluster.store.find(r.PODS, request.namespace, request.pod)
    if current is None or current["metadata"]["uid"] != uid:
        deleted.set()  # gone while the connection was upgraded
    handler = asyncio.create_task(run())
    killed = asyncio.create_task(deleted.wait())
    reader = asyncio.create_task(drain_input())
    try:
        await asyncio.wait({handler, killed, reader}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        raise
    finally:
        unsubscribe()
        for task in (handler, killed):
            task.cancel()
        await asyncio.gather(handler, killed, return_exceptions=True)

    if reader.done():
        await reader  # the client left (or the server is stopping): nobody to answer
        return
    frames: list[tuple[int, str]] = []
    if handler.done() and not handler.cancelled() and handler.exception() is None:
        result = handler.result()
        frames = [(STDOUT, result.stdout), (STDERR, result.stderr)]
        frames.append((STATUS, json.dumps(status_frame(request.command, result.exit_code))))
    elif killed.done() and not killed.cancelled():
        frames.append((STATUS, json.dumps(status_frame(request.command, KILLED))))
    else:
        error = handler.exception() if not handler.cancelled() else None
        log.error("exec handler failed for %s: %r", shlex.join(request.command), error)
        if error is not None:
            cluster.errors.append(error)
        message = f"error executing command in container: {error!r}"
        frames.append((STATUS, json.dumps(_internal_error(message))))
    try:
        for channel, data in frames:
            if data:
                await ws.send_bytes(bytes([channel]) + data.encode())
    except ConnectionError:
        pass
    await ws.close(code=WSCloseCode.OK)
    await reader
