"""Pods' life: scheduled on a node when created, Running with an address after a delay.

A pod whose image matches the cluster's ``unpullable`` pattern stays Pending instead, its
container waiting in ``ErrImagePull`` and then ``ImagePullBackOff``, with the Warning events
kubelet records. Those are what a backend reads to say why a workload never came up.
Containers never run anything: addresses are handed out and never contacted.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from functools import partial
from typing import TYPE_CHECKING, Any

from . import events, status
from . import resources as r
from .config import ClusterConfig
from .defaults import timestamp
from .ipam import AddressPool
from .resources import Resource
from .store import Store

if TYPE_CHECKING:
    from .controllers import WorkQueue

Obj = dict[str, Any]

_CONDITIONS = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
)


def normalize_image(image: str) -> str:
    """``nginx`` -> ``docker.io/library/nginx:latest``, as containerd names it in errors."""
    name, digest = [*image.split("@", 1), ""][:2]
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    if digest:
        return f"{name}@{digest}"
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def pull_error(image: str) -> str:
    ref = normalize_image(image)
    return (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": failed to '
        f'resolve reference "{ref}": {ref}: not found'
    )


def is_ready(pod: Obj) -> bool:
    for condition in pod.get("status", {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def _conditions(pod: Obj, ready: bool, unready: list[str]) -> list[Obj]:
    old = {c["type"]: c for c in pod.get("status", {}).get("conditions") or []}
    now = timestamp()
    result = []
    for kind in _CONDITIONS:
        value = "True" if ready or kind not in ("Ready", "ContainersReady") else "False"
        condition: Obj = {"type": kind, "status": value, "lastProbeTime": None}
        previous = old.get(kind)
        if previous is not None and previous.get("status") == value:
            condition["lastTransitionTime"] = previous.get("lastTransitionTime", now)
        else:
            condition["lastTransitionTime"] = now
        if value == "False":
            condition["reason"] = "ContainersNotReady"
            condition["message"] = f"containers with unready status: [{' '.join(unready)}]"
        result.append(condition)
    return result


class Kubelet:
    """Scheduler, service-account admission and kubelet of one cluster, in one place."""

    def __init__(self, config: ClusterConfig, store: Store, queue: WorkQueue) -> None:
        self.config = config
        self.store = store
        self.queue = queue
        self.pod_ips = AddressPool(config.pod_network, first=10)
        self._unpullable = re.compile(config.unpullable) if config.unpullable else None
        self._next_node = 0

    def node_ip(self, node: str) -> str:
        names = self.config.node_names
        return self.config.node_ip(names.index(node) if node in names else 0)

    def unpullable(self, image: str) -> bool:
        return bool(self._unpullable and self._unpullable.search(image))

    # -----------------------------------------------------------------------------------------
    # admission (runs inside the API call)

    def admit(self, verb: str, resource: Resource, pod: Obj, old: Obj | None) -> None:
        if resource is not r.PODS or verb != "create":
            return
        meta, spec = pod["metadata"], pod["spec"]
        account = spec.get("serviceAccountName", "default")
        if (
            account != "default"
            and self.store.find(r.SERVICEACCOUNTS, meta["namespace"], account) is None
        ):
            why = (
                f"error looking up service account {meta['namespace']}/{account}: "
                f'serviceaccount "{account}" not found'
            )
            raise status.forbidden(r.PODS, meta["name"], why)
        if not spec.get("nodeName"):
            nodes = self.config.node_names
            spec["nodeName"] = nodes[self._next_node % len(nodes)]
            self._next_node += 1
        pod["status"]["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": timestamp(),
            }
        ]

    # -----------------------------------------------------------------------------------------
    # lifecycle (runs later, on the loop)

    def on_pod_event(self, event: str, pod: Obj) -> None:
        meta, pod_status = pod["metadata"], pod.get("status") or {}
        if event == "DELETED":
            ip = pod_status.get("podIP")
            if ip and not pod["spec"].get("hostNetwork"):
                self.pod_ips.release(ip)
        elif pod_status.get("phase") == "Pending" and self._images_changed(pod):
            self.queue.submit(
                partial(self.start, meta["namespace"], meta["name"], meta["uid"]),
                delay=self.config.start_delay,
                key=("start", meta["uid"]),
            )

    @staticmethod
    def _images_changed(pod: Obj) -> bool:
        """Whether the kubelet has yet to act on the pod's current images."""
        statuses = {s["name"]: s.get("image") for s in pod["status"].get("containerStatuses", [])}
        return any(statuses.get(c["name"]) != c["image"] for c in pod["spec"]["containers"])

    def start(self, namespace: str, name: str, uid: str) -> None:
        with self.store.lock:
            pod = self.store.find(r.PODS, namespace, name)
            if pod is None or pod["metadata"]["uid"] != uid:
                return
            containers = pod["spec"]["containers"]
            failing = [c for c in containers if self.unpullable(c["image"])]
            if failing:
                self._fail_pull(pod, failing)
            else:
                self._run(pod)

    def _addresses(self, pod: Obj) -> Obj:
        host_ip = self.node_ip(pod["spec"]["nodeName"])
        pod_ip = pod["status"].get("podIP")
        if pod["spec"].get("hostNetwork"):
            pod_ip = host_ip
        elif not pod_ip:
            pod_ip = self.pod_ips.allocate()
        return {
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "startTime": pod["status"].get("startTime") or timestamp(),
        }

    def _container_status(self, container: Obj, running: bool, waiting: Obj | None) -> Obj:
        image = container["image"]
        state: Obj = {"running": {"startedAt": timestamp()}} if running else {"waiting": waiting}
        result: Obj = {
            "name": container["name"],
            "image": image,
            "imageID": "",
            "ready": running,
            "started": running,
            "restartCount": 0,
            "state": state,
            "lastState": {},
        }
        if running:
            digest = hashlib.sha256(image.encode()).hexdigest()
            repository = normalize_image(image).split("@")[0].rsplit(":", 1)[0]
            result["imageID"] = f"{repository}@sha256:{digest}"
            result["containerID"] = f"containerd://{secrets.token_hex(32)}"
        return result

    def _run(self, pod: Obj) -> None:
        addresses = self._addresses(pod)

        def running(stored: Obj) -> None:
            containers = stored["spec"]["containers"]
            stored["status"].update(addresses)
            stored["status"].update(
                phase="Running",
                conditions=_conditions(stored, True, []),
                containerStatuses=[self._container_status(c, True, None) for c in containers],
            )

        self.store.mutate(r.PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], running)

    def _waiting(self, pod: Obj, failing: list[Obj], reason: str) -> None:
        addresses = self._addresses(pod)
        bad = {c["name"] for c in failing}

        def waiting(stored: Obj) -> None:
            statuses = []
            for container in stored["spec"]["containers"]:
                error = pull_error(container["image"])
                message = (
                    error
                    if reason == "ErrImagePull"
                    else (f'Back-off pulling image "{container["image"]}": ErrImagePull: {error}')
                )
                waiting_state = {"reason": reason, "message": message}
                running = container["name"] not in bad
                statuses.append(self._container_status(container, running, waiting_state))
            stored["status"].update(addresses)
            stored["status"].update(
                phase="Pending",
                conditions=_conditions(stored, False, sorted(bad)),
                containerStatuses=statuses,
            )

        meta = pod["metadata"]
        self.store.mutate(r.PODS, meta["namespace"], meta["name"], waiting)

    def _fail_pull(self, pod: Obj, failing: list[Obj]) -> None:
        self._waiting(pod, failing, "ErrImagePull")
        host = pod["spec"]["nodeName"]
        for container in failing:
            where = f"spec.containers{{{container['name']}}}"
            image = container["image"]
            for reason, message in (
                ("Failed", f'Failed to pull image "{image}": {pull_error(image)}'),
                ("Failed", "Error: ErrImagePull"),
            ):
                events.record(
                    self.store, pod, "Warning", reason, message, host=host, field_path=where
                )
        meta = pod["metadata"]
        images = [c["image"] for c in failing]
        self.queue.submit(
            partial(self._back_off, meta["namespace"], meta["name"], meta["uid"], images),
            delay=self.config.start_delay,
        )

    def _back_off(self, namespace: str, name: str, uid: str, images: list[str]) -> None:
        with self.store.lock:
            pod = self.store.find(r.PODS, namespace, name)
            if pod is None or pod["metadata"]["uid"] != uid:
                return
            failing = [c for c in pod["spec"]["containers"] if c["image"] in images]
            if not failing or pod["status"].get("phase") != "Pending":
                return
            self._waiting(pod, failing, "ImagePullBackOff")
            for container in failing:
                where = f"spec.containers{{{container['name']}}}"
                for kind, reason, message in (
                    ("Normal", "BackOff", f'Back-off pulling image "{container["image"]}"'),
                    ("Warning", "Failed", "Error: ImagePullBackOff"),
                ):
                    events.record(
                        self.store,
                        pod,
                        kind,
                        reason,
                        message,
                        host=pod["spec"]["nodeName"],
                        field_path=where,
                    )
