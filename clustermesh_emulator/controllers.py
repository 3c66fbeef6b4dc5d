"""The control loop: a work queue on the event loop, and the controllers it drives.

Controllers react to store changes the way kube-controller-manager and kubelet do: later,
not inside the API call that caused them. A listener only queues work; the work runs on the
emulator's event loop, so an API call returns before, say, a Deployment has its pods. The queue
counts pending work, which is how :meth:`Cluster.settle` knows the cluster has gone quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Hashable
from functools import partial
from typing import Any

from . import resources as r
from .config import ClusterConfig
from .kubelet import Kubelet
from .resources import RESOURCES
from .status import ApiError
from .store import Store
from .workloads import Workloads

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class WorkQueue:
    """Runs callables on an event loop after a delay; usable from any thread.

    Work submitted before :meth:`attach` waits for the loop. Work with a ``key`` already queued
    (and not yet started) is dropped, which coalesces bursts of events into one reconcile.
    """

    def __init__(self, on_error: Callable[[BaseException], None]) -> None:
        self._lock = threading.Lock()
        self._on_error = on_error
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending = 0
        self._keys: set[Hashable] = set()
        self._deferred: list[tuple[float, Hashable | None, Callable[[], None]]] = []
        self._handles: dict[int, asyncio.TimerHandle] = {}
        self._tokens = 0
        self._closed = False

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._loop = loop
            deferred, self._deferred = self._deferred, []
        for delay, key, work in deferred:
            loop.call_soon_threadsafe(self._arm, delay, key, work)

    def submit(
        self, work: Callable[[], None], *, delay: float = 0.0, key: Hashable | None = None
    ) -> None:
        with self._lock:
            if self._closed or (key is not None and key in self._keys):
                return
            if key is not None:
                self._keys.add(key)
            self._pending += 1
            loop = self._loop
            if loop is None:
                self._deferred.append((delay, key, work))
                return
        loop.call_soon_threadsafe(self._arm, delay, key, work)

    def close(self) -> None:
        """Cancel everything queued; called on the loop when the cluster stops."""
        with self._lock:
            self._closed = True
            handles, self._handles = self._handles, {}
            self._pending = 0
        for handle in handles.values():
            handle.cancel()

    def _arm(self, delay: float, key: Hashable | None, work: Callable[[], None]) -> None:
        assert self._loop is not None
        with self._lock:
            if self._closed:
                return
            self._tokens += 1
            token = self._tokens
            self._handles[token] = self._loop.call_later(delay, self._run, token, key, work)

    def _run(self, token: int, key: Hashable | None, work: Callable[[], None]) -> None:
        with self._lock:
            self._handles.pop(token, None)
            self._keys.discard(key)
        try:
            work()
        except Exception as exc:
            log.exception("controller work failed: %r", work)
            self._on_error(exc)
        finally:
            with self._lock:
                self._pending = max(self._pending - 1, 0)


# Content goes in this order when a namespace is finalised: owners before what they own, so
# no controller recreates a pod its Deployment no longer wants.
_FINALIZE_ORDER = [r.DEPLOYMENTS, r.DAEMONSETS] + [
    res for res in RESOURCES if res.namespaced and res not in (r.DEPLOYMENTS, r.DAEMONSETS)
]


class Controllers:
    """Routes store events to the kubelet, the workload controllers, the garbage collector and
    the namespace and service-account controllers."""

    def __init__(
        self,
        config: ClusterConfig,
        store: Store,
        queue: WorkQueue,
        kubelet: Kubelet,
        workloads: Workloads,
    ) -> None:
        self.config = config
        self.store = store
        self.queue = queue
        self.kubelet = kubelet
        self.workloads = workloads

    def on_event(self, event: str, obj: Obj) -> None:
        """A store listener: decide what to do, queue it, return."""
        kind, meta = obj["kind"], obj["metadata"]
        namespace, name = meta.get("namespace"), meta["name"]
        if event == "DELETED":
            self.queue.submit(partial(self.collect_garbage, meta["uid"]))
        if kind == "Namespace":
            if event == "ADDED":
                self.queue.submit(partial(self.ensure_default_account, name))
            elif event == "MODIFIED" and "deletionTimestamp" in meta:
                self.queue.submit(
                    partial(self.finalize_namespace, name),
                    delay=self.config.namespace_delete_delay,
                    key=("finalize", name),
                )
        elif kind in ("Deployment", "DaemonSet") and event != "DELETED":
            self._reconcile(kind, str(namespace), name)
        elif kind == "Pod":
            self.kubelet.on_pod_event(event, obj)
            for ref in meta.get("ownerReferences") or []:
                if ref.get("kind") in ("Deployment", "DaemonSet"):
                    self._reconcile(ref["kind"], str(namespace), ref["name"])
        elif kind == "ServiceAccount" and event == "ADDED":
            # Pods waiting for this account can now be created.
            for resource in (r.DEPLOYMENTS, r.DAEMONSETS):
                for owner in self.store.list_objects(resource, namespace):
                    self._reconcile(owner["kind"], str(namespace), owner["metadata"]["name"])

    def _reconcile(self, kind: str, namespace: str, name: str) -> None:
        work = (
            self.workloads.reconcile_deployment
            if kind == "Deployment"
            else self.workloads.reconcile_daemonset
        )
        self.queue.submit(partial(work, namespace, name), key=(kind, namespace, name))

    def collect_garbage(self, owner_uid: str) -> None:
        """Delete what the deleted object owned (Background propagation)."""
        for resource, obj in self.store.dependents(owner_uid):
            meta = obj["metadata"]
            if self.store.find(resource, meta.get("namespace"), meta["name"]) is None:
                continue
            # ApiError: already gone, or in a namespace that finalises itself.
            with contextlib.suppress(ApiError):
                self.store.delete(resource, meta.get("namespace"), meta["name"])

    def finalize_namespace(self, name: str) -> None:
        namespace = self.store.find(r.NAMESPACES, None, name)
        if namespace is None or "deletionTimestamp" not in namespace["metadata"]:
            return
        with self.store.lock:
            for resource in _FINALIZE_ORDER:
                for obj in self.store.list_objects(resource, name):
                    self.store.remove(resource, name, obj["metadata"]["name"])
            self.store.remove(r.NAMESPACES, None, name)

    def ensure_default_account(self, namespace: str) -> None:
        account = {"metadata": {"name": "default"}}
        with contextlib.suppress(ApiError):  # it exists, or the namespace went away
            self.store.create(r.SERVICEACCOUNTS, namespace, account)
