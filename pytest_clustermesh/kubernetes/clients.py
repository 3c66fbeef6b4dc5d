"""One Kubernetes context: its API clients, and API calls that retry transient failures.

Every call goes through :meth:`Cluster.call`, which logs it at debug level with the context and
retries 429, 5xx and connection errors with tenacity (honouring ``Retry-After``). urllib3's own
retries are switched off so that tenacity is the one place that decides.

``kubernetes.stream`` swaps ``call_api`` on the client it is given for the whole exec, so an exec
must not share its client with anything running meanwhile: :meth:`Cluster.exec_client` hands out
clients of a pool, one per concurrent exec.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import tenacity
import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.config import new_client_from_config
from kubernetes.config.config_exception import ConfigException

from ..errors import BackendError
from .settings import KubernetesSettings

log = logging.getLogger("pytest_clustermesh.kubernetes")

MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 30.0


class Cluster:
    """A context of the kubeconfig and the APIs to reach it."""

    def __init__(self, context: str, kubeconfig: str | None, settings: KubernetesSettings) -> None:
        self.context = context
        self._kubeconfig = kubeconfig
        self._settings = settings
        self.api = self._new_client()
        self.core = k8s.CoreV1Api(self.api)
        self.apps = k8s.AppsV1Api(self.api)
        self.networking = k8s.NetworkingV1Api(self.api)
        self.custom = k8s.CustomObjectsApi(self.api)
        self.discovery = k8s.DiscoveryV1Api(self.api)
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._exec_clients: list[Any] = []
        self._lock = threading.Lock()

    @property
    def server(self) -> str:
        return str(self.api.configuration.host)

    def _new_client(self) -> Any:
        configuration = k8s.Configuration()
        configuration.retries = 0
        try:
            return new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=self._kubeconfig,
                context=self.context,
                persist_config=False,
                client_configuration=configuration,
            )
        except (ConfigException, OSError, ValueError) as exc:
            where = self._kubeconfig or "the default kubeconfig"
            raise BackendError(f"{self.context}: cannot load context from {where}: {exc}") from exc

    def call(self, what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``function(*args, **kwargs)``, logged as ``what`` and retried while transient.

        Returns ``Any``: the client's models type every field as optional, while the objects
        read here are ones whose fields the server always fills.
        """
        kwargs.setdefault("_request_timeout", self._settings.api_timeout)
        attempts = self._settings.api_attempts

        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.debug(
                "%s: attempt %d/%d failed: %s: %s",
                self.context,
                state.attempt_number,
                attempts,
                what,
                describe(error),
            )

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts),
            wait=_Wait(self._settings.api_backoff),
            retry=tenacity.retry_if_exception(is_transient),
            before_sleep=before_sleep,
            reraise=True,
        )
        log.debug("%s: %s", self.context, what)
        return retrying(function, *args, **kwargs)

    @contextmanager
    def exec_client(self) -> Iterator[Any]:
        """A client for one exec, not used by anyone else until it is given back."""
        try:
            api = self._idle.get_nowait()
        except queue.Empty:
            api = self._new_client()
            with self._lock:
                self._exec_clients.append(api)
        try:
            yield api
        finally:
            self._idle.put(api)

    def close(self) -> None:
        with self._lock:
            clients, self._exec_clients = [self.api, *self._exec_clients], []
        for api in clients:
            api.close()


class _Wait(tenacity.wait.wait_base):
    """Exponential backoff from ``first``, or the server's ``Retry-After`` when it sends one."""

    def __init__(self, first: float) -> None:
        self._exponential = tenacity.wait_exponential(multiplier=first, max=MAX_BACKOFF)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        after = retry_after(error)
        return after if after is not None else float(self._exponential(retry_state))


def retry_after(error: BaseException | None) -> float | None:
    headers = getattr(error, "headers", None) if isinstance(error, ApiException) else None
    value = headers.get("Retry-After") if headers else None
    try:
        return min(float(value), MAX_RETRY_AFTER) if value is not None else None
    except ValueError:
        return None


def is_transient(error: BaseException) -> bool:
    """429, 5xx and failures to connect or read: worth another attempt."""
    if isinstance(error, ApiException):
        return error.status == 429 or (isinstance(error.status, int) and error.status >= 500)
    return isinstance(error, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError)


def describe(error: BaseException | None) -> str:
    """One line for an API failure: the server's message, or why the server was not reached."""
    if error is None:
        return "no error"
    if isinstance(error, ApiException):
        return f"HTTP {error.status}: {status_message(error)}"
    if isinstance(error, urllib3.exceptions.HTTPError | OSError):
        root = _root_cause(error)
        if isinstance(root, OSError) and root.strerror:
            return root.strerror.lower()
        return str(root) or type(root).__name__
    return f"{type(error).__name__}: {error}"


def status_message(error: ApiException) -> str:
    """The ``message`` of the Status the server sent, else its reason."""
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(error.reason or error.body or "no message")


def _root_cause(error: BaseException) -> BaseException:
    seen: set[int] = set()
    current = error
    while id(current) not in seen:
        seen.add(id(current))
        following = getattr(current, "reason", None)
        if not isinstance(following, BaseException):
            following = current.__cause__ or current.__context__
        if following is None:
            break
        current = following
    return current


def not_found(error: BaseException) -> bool:
    return isinstance(error, ApiException) and error.status == 404


def conflict(error: BaseException) -> bool:
    return isinstance(error, ApiException) and error.status == 409
