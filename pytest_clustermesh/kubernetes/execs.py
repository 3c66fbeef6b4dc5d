"""Running a command in a pod through the exec websocket, with its exit code.

``kubernetes.stream`` gives the exit code only without preloading, from the status frame
(channel 3) once the server closes. That frame is missing when the connection drops, and a
``Failure`` that is not a non-zero exit (exec could not start the command) has no exit code:
``returncode`` then raises, so the status is looked at before it is trusted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes.stream import stream
from kubernetes.stream.ws_client import ERROR_CHANNEL, STDERR_CHANNEL, STDOUT_CHANNEL

from .clients import Cluster, describe

log = logging.getLogger("pytest_clustermesh.kubernetes")


@dataclass(frozen=True)
class ExecResult:
    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    """Why the command did not run to its end; ``None`` when it did."""
    transient: bool = False
    """The exec never started because the API server was briefly unavailable (HTTP 429 or
    5xx on the handshake): the same exec may well succeed when tried again."""


def run_exec(
    cluster: Cluster,
    namespace: str,
    pod: str,
    argv: Sequence[str],
    timeout: float,
    container: str | None = None,
) -> ExecResult:
    """Run ``argv`` in ``container`` of ``pod`` (default: its first), waiting at most
    ``timeout`` seconds."""
    summary = shlex.join(argv[:2]) + (" ..." if len(argv) > 2 else "")
    log.debug("%s: exec %s/%s: %s (%d args)", cluster.context, namespace, pod, summary, len(argv))
    started = time.monotonic()
    extra = {"container": container} if container else {}
    with cluster.exec_client() as api:
        try:
            response = stream(
                k8s.CoreV1Api(api).connect_get_namespaced_pod_exec,
                pod,
                namespace,
                **extra,
                command=list(argv),
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                _preload_content=False,
                _request_timeout=timeout,
            )
        except Exception as exc:  # the client wraps every handshake failure in ApiException(0)
            reason = _handshake(exc)
            return ExecResult(
                None,
                error=f"exec in {namespace}/{pod} failed: {reason}",
                transient=_transient(reason),
            )
        try:
            return _collect(response, timeout)
        finally:
            _close(response)
            log.debug(
                "%s: exec %s/%s done in %.2f s",
                cluster.context,
                namespace,
                pod,
                time.monotonic() - started,
            )


def _collect(response: Any, timeout: float) -> ExecResult:
    try:
        response.run_forever(timeout=timeout)
    except Exception as exc:  # websocket-client raises when the peer vanishes without a close
        return ExecResult(None, error=f"exec connection lost: {describe(exc)}")
    stdout = response.read_channel(STDOUT_CHANNEL)
    stderr = response.read_channel(STDERR_CHANNEL)
    if response.is_open():
        return ExecResult(None, stdout, stderr, f"exec did not end within {timeout:g} s")
    status = response.peek_channel(ERROR_CHANNEL)
    code, error = exit_status(status)
    if error is None:
        # The client's reading of the same frame; a Failure whose first cause is not the exit
        # code makes it raise, and then ours stands.
        with contextlib.suppress(KeyError, IndexError, TypeError, ValueError):
            code = response.returncode
    return ExecResult(code, stdout, stderr, error)


def _close(response: Any) -> None:
    """Close the websocket and its socket: after the server's close frame, websocket-client
    considers itself closed and ``close()`` alone would leave the socket open."""
    response.close()
    websocket = getattr(response, "sock", None)
    if websocket is not None:
        websocket.shutdown()


def exit_status(status: str) -> tuple[int | None, str | None]:
    """The exit code in an exec status frame, or why there is none."""
    if not status.strip():
        return None, "exec ended without a status (the connection closed early)"
    try:
        parsed = yaml.safe_load(status)
    except yaml.YAMLError:
        return None, f"unreadable exec status: {status[:200]!r}"
    if not isinstance(parsed, dict):
        return None, f"unreadable exec status: {status[:200]!r}"
    if parsed.get("status") == "Success":
        return 0, None
    causes = (parsed.get("details") or {}).get("causes") or []
    for cause in causes:
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", "")), None
            except ValueError:
                break
    return None, str(parsed.get("message") or parsed.get("reason") or status[:200])


_TRANSIENT = re.compile(r"(?:HTTP|Handshake status) (429|50[0234])\b")


def _transient(reason: str) -> bool:
    """Whether a handshake failure is the API server's momentary refusal (429, 5xx)."""
    return _TRANSIENT.search(reason) is not None


def _handshake(error: BaseException) -> str:
    """Why the exec handshake failed: the API server's Status message when it sent one (the
    client's text is ``Handshake status 403 Forbidden -+-+- {headers} -+-+- {body}``)."""
    reason = getattr(error, "reason", None)
    if not reason:
        return describe(error)
    text = str(reason)
    head, _, body = text.rpartition("-+-+-")
    try:
        status = json.loads(body)
    except ValueError:
        return text
    if not head or not isinstance(status, dict) or not status.get("message"):
        return text
    code = status.get("code")
    return f"HTTP {code}: {status['message']}" if code else str(status["message"])
