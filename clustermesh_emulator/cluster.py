"""One emulated cluster: a store, its controllers, its API server, and a state API for tests.

The state API (:meth:`Cluster.get`, :meth:`Cluster.create`, :meth:`Cluster.subscribe`,
:attr:`Cluster.faults`, :meth:`Cluster.reject`...) is plain Python, callable from any thread,
and never subject to injected faults.
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, web

from . import resources as r
from . import status
from .config import ClusterConfig
from .controllers import Controllers, WorkQueue
from .exec import ExecHandler, default_exec_handler
from .faults import FaultCounts, FaultInjector, Faults
from .ipam import ServiceAddresses
from .kubelet import Kubelet
from .rbac import Forbidden
from .requestlog import LoggedRequest, RequestLog
from .resources import Resource
from .seed import seed
from .selectors import parse_field_selector, parse_label_selector
from .server import build_app
from .status import FieldError
from .store import Listener, Store
from .workloads import Workloads

Obj = dict[str, Any]


@dataclass(frozen=True)
class Rejection:
    """Makes the API server refuse matching objects with 422 Invalid (see :meth:`reject`)."""

    resource: Resource
    name_pattern: str
    """A shell-style pattern (``fnmatch``) over ``metadata.name``."""
    message: str
    field: str = ""

    def matches(self, resource: Resource, name: str) -> bool:
        return resource is self.resource and fnmatch.fnmatchcase(name, self.name_pattern)


class Cluster:
    """An emulated cluster; create it through :class:`~.Emulator` to get it served."""

    def __init__(
        self,
        config: ClusterConfig,
        *,
        peers: Sequence[str] = (),
        exec_handler: ExecHandler | None = None,
    ) -> None:
        self.config = config
        self.peers = tuple(peers)
        """Cilium names of the clusters listed in ``cilium-clustermesh``."""
        self.errors: list[BaseException] = []
        """Exceptions raised by controllers or exec handlers; a healthy run has none."""
        self.exec_handler: ExecHandler = exec_handler or default_exec_handler
        self.faults_injector = FaultInjector()
        self.request_log = RequestLog()
        self.sessions: set[web.WebSocketResponse] = set()
        """Exec websockets in progress."""
        self.port = config.port
        rng = random.Random()
        self.store = Store(rng)
        self.queue = WorkQueue(self.errors.append)
        self.kubelet = Kubelet(config, self.store, self.queue)
        self._service_ips = ServiceAddresses(config.service_network)
        self._controllers = Controllers(
            config, self.store, self.queue, self.kubelet, Workloads(config, self.store, rng)
        )
        self._rejections: list[Rejection] = []
        self.forbidden: list[Forbidden] = []
        """RBAC denials: matching requests are answered 403 (see :meth:`forbid`)."""
        self._pod_logs: dict[tuple[str, str, str | None], str] = {}
        self._runner: web.AppRunner | None = None
        self.store.add_admission(self._check_rejections)
        self.store.add_admission(self.kubelet.admit)
        self.store.add_admission(self._service_ips.admit)
        self.store.subscribe(self._controllers.on_event)
        self.store.subscribe(self._service_ips.on_event)

    # -----------------------------------------------------------------------------------------
    # identity

    @property
    def name(self) -> str:
        """The logical name (``cluster1``)."""
        return self.config.logical

    @property
    def context(self) -> str:
        return self.config.context

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        return f"<Cluster {self.name} {self.url}>"

    # -----------------------------------------------------------------------------------------
    # serving (on the emulator's loop)

    async def start(self) -> None:
        self.queue.attach(asyncio.get_running_loop())
        seed(self.store, self.config, self.peers)
        self._runner = web.AppRunner(
            build_app(self), handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.config.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        for ws in list(self.sessions):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
        self.queue.close()

    # -----------------------------------------------------------------------------------------
    # state API

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        """An object by kind (``Pod``, ``pods``, ``cnp``...) and name; ``None`` if absent."""
        return self.store.find(r.lookup(kind), namespace, name)

    def list_objects(
        self, kind: str, namespace: str | None = None, *, labels: str = "", fields: str = ""
    ) -> list[Obj]:
        """Objects of a kind, in one namespace or all, filtered by selector strings."""
        resource = r.lookup(kind)
        supported = (*r.COMMON_FIELDS, *resource.field_labels)
        return self.store.list_objects(
            resource,
            namespace,
            parse_label_selector(labels),
            parse_field_selector(fields, supported),
        )

    def create(self, obj: Obj) -> Obj:
        """Create an object from a manifest, as the API would (defaults, validation, 201's
        body returned); a namespaced one without ``metadata.namespace`` goes to ``default``."""
        resource = r.by_api_version(str(obj.get("apiVersion")), str(obj.get("kind")))
        if resource is None:
            raise KeyError(f"not served: {obj.get('apiVersion')} {obj.get('kind')}")
        namespace = obj.get("metadata", {}).get("namespace") if resource.namespaced else None
        return self.store.create(resource, namespace or "default", obj)

    def delete(self, kind: str, name: str, namespace: str | None = None) -> Obj:
        return self.store.delete(r.lookup(kind), namespace, name)

    def subscribe(self, callback: Listener, *, replay: bool = False) -> Callable[[], None]:
        """Call ``callback(event, obj)`` for every stored change, ``event`` being ``ADDED``,
        ``MODIFIED`` or ``DELETED`` and ``obj`` a copy of the whole object.

        It is called synchronously, in the thread making the change (usually the emulator's),
        with the cluster locked: keep it quick. With ``replay``, it is first called with
        ``ADDED`` for every existing object. Returns a function that unsubscribes.
        """
        return self.store.subscribe(callback, replay=replay)

    @property
    def faults(self) -> Faults:
        return self.faults_injector.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.faults_injector.faults = faults

    @property
    def fault_counts(self) -> FaultCounts:
        return self.faults_injector.counts()

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every HTTP request served so far, oldest first."""
        return self.request_log.entries()

    def clear_requests(self) -> None:
        """Forget the request log and reset :attr:`fault_counts`."""
        self.request_log.clear()
        self.faults_injector.reset()

    def reject(self, kind: str, name_pattern: str, message: str, *, field: str = "") -> Rejection:
        """Refuse creating or updating matching objects with 422 Invalid and ``message``,
        as an API server does for a policy its CRD schema rejects."""
        rejection = Rejection(r.lookup(kind), name_pattern, message, field)
        self._rejections.append(rejection)
        return rejection

    def clear_rejections(self) -> None:
        self._rejections.clear()

    def forbid(self, verb: str, resource: str, namespace: str | None = None) -> Forbidden:
        """Answer matching requests with 403 Forbidden, worded as kube-apiserver's RBAC
        denial, as for an account that lacks the permission: ``forbid("create", "pods/exec",
        "kube-system")``. Verbs and resources are shell patterns (``*``)."""
        rule = Forbidden(verb, resource, namespace)
        self.forbidden.append(rule)
        return rule

    def clear_forbidden(self) -> None:
        self.forbidden.clear()

    def set_pod_log(
        self, namespace: str, pod: str, text: str, *, container: str | None = None
    ) -> None:
        """What ``pods/log`` returns for a pod (and container, if given)."""
        self._pod_logs[(namespace, pod, container)] = text

    def pod_log(self, namespace: str, pod: str, container: str) -> str:
        return self._pod_logs.get(
            (namespace, pod, container), self._pod_logs.get((namespace, pod, None), "")
        )

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until the controllers have nothing left to do (pods started, namespaces gone).

        Call it from a test's thread, never from an exec handler or a listener.
        """
        deadline = time.monotonic() + timeout
        while self.queue.pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: {self.queue.pending} controller tasks pending")
            time.sleep(0.005)

    def _check_rejections(self, verb: str, resource: Resource, obj: Obj, old: Obj | None) -> None:
        name = str(obj["metadata"].get("name", ""))
        for rejection in list(self._rejections):
            if rejection.matches(resource, name):
                error = FieldError(rejection.field, "FieldValueInvalid", rejection.message)
                raise status.invalid(resource, name, [error])
