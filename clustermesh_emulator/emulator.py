"""Several emulated clusters served from one background thread, for synchronous callers.

The thread runs its own event loop (``asyncio.run``), so synchronous tests and the synchronous
``kubernetes`` client can use the clusters while exec handlers and controllers run
concurrently in the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from . import kubeconfig
from .cluster import Cluster
from .config import ClusterConfig, default_clusters
from .exec import ExecHandler
from .faults import Faults


class Emulator:
    """Emulated clusters, each an API server on its own loopback port.

    ``Emulator()`` gives ``cluster1`` and ``cluster2`` (contexts ``kind-cluster1``,
    ``kind-cluster2``), meshed with each other. Use it as a context manager or call
    :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        clusters: Sequence[ClusterConfig] | None = None,
        *,
        exec_handler: ExecHandler | None = None,
    ) -> None:
        configs = list(clusters) if clusters is not None else default_clusters()
        names = [c.logical for c in configs]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"cluster names must be unique and at least one: {names}")
        meshed = [c.cilium_cluster_name for c in configs if c.clustermesh]
        self.clusters: dict[str, Cluster] = {}
        for config in configs:
            peers = [p for p in meshed if p != config.cilium_cluster_name]
            self.clusters[config.logical] = Cluster(
                config, peers=peers if config.clustermesh else [], exec_handler=exec_handler
            )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._tempdir: str | None = None

    def __getitem__(self, logical: str) -> Cluster:
        return self.clusters[logical]

    def __iter__(self) -> Iterator[Cluster]:
        return iter(self.clusters.values())

    def __len__(self) -> int:
        return len(self.clusters)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -----------------------------------------------------------------------------------------
    # lifecycle

    def start(self, timeout: float = 10.0) -> Emulator:
        """Serve every cluster and wait until their seeded workloads are Running."""
        if self._thread is not None:
            raise RuntimeError("an Emulator can only be started once")
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._serve()), name="clustermesh-emulator", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise TimeoutError("the emulator did not start in time")
        if self._startup_error is not None:
            self._thread.join(timeout)
            raise RuntimeError("the emulator failed to start") from self._startup_error
        self.settle(timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread; safe to call twice."""
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop finished meanwhile
                loop.call_soon_threadsafe(stopping.set)
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError("the emulator thread did not stop")
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        started: list[Cluster] = []
        try:
            for cluster in self.clusters.values():
                started.append(cluster)
                await cluster.start()
        except BaseException as exc:
            self._startup_error = exc
        self._ready.set()
        try:
            if self._startup_error is None:
                await self._stopping.wait()
        finally:
            for cluster in started:
                await cluster.stop()

    # -----------------------------------------------------------------------------------------
    # conveniences over all clusters

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until every cluster's controllers are idle."""
        for cluster in self.clusters.values():
            cluster.settle(timeout)

    def set_faults(self, faults: Faults, *clusters: str) -> None:
        """Inject ``faults`` into the named clusters, or all of them."""
        for name in clusters or list(self.clusters):
            self.clusters[name].faults = faults

    def set_exec_handler(self, handler: ExecHandler) -> None:
        for cluster in self.clusters.values():
            cluster.exec_handler = handler

    def kubeconfig(self) -> dict[str, Any]:
        return kubeconfig.kubeconfig((c.context, c.url) for c in self.clusters.values())

    def write_kubeconfig(self, path: str | Path) -> Path:
        """Write a kubeconfig with one context per cluster; the first is current."""
        if not self.running:
            raise RuntimeError("start the emulator first: the ports are not known yet")
        return kubeconfig.write(Path(path), self.kubeconfig())

    @property
    def kubeconfig_path(self) -> Path:
        """A kubeconfig in a temporary directory removed by :meth:`stop`."""
        if self._tempdir is None:
            self._tempdir = tempfile.mkdtemp(prefix="clustermesh-emulator-")
        path = Path(self._tempdir) / "kubeconfig.yaml"
        return path if path.exists() else self.write_kubeconfig(path)
