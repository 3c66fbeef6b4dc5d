"""Deployment and DaemonSet controllers.

There are no ReplicaSets: a Deployment owns its pods directly (their ``ownerReferences`` name
the Deployment), and a template change replaces all pods at once rather than rolling. Pod
names and the ``pod-template-hash`` label look like the real ones all the same.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import random
from typing import Any

from . import events
from . import resources as r
from .config import ClusterConfig
from .defaults import random_suffix, timestamp
from .kubelet import is_ready
from .resources import Resource
from .status import ApiError
from .store import Store, owner_uids

Obj = dict[str, Any]


def template_hash(template: Obj) -> str:
    """Ten hex digits standing for the pod template, like ``pod-template-hash``."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def _condition(previous: list[Obj], kind: str, value: bool, reason: str, message: str) -> Obj:
    """A status condition keeping its timestamps while its status and reason hold."""
    now = timestamp()
    old = next((c for c in previous if c.get("type") == kind), None)
    status = "True" if value else "False"
    condition = {
        "type": kind,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }
    if old is not None and old.get("status") == status:
        condition["lastTransitionTime"] = old.get("lastTransitionTime", now)
        if old.get("reason") == reason:
            condition["lastUpdateTime"] = old.get("lastUpdateTime", now)
    return condition


class Workloads:
    def __init__(self, config: ClusterConfig, store: Store, rng: random.Random) -> None:
        self.config = config
        self.store = store
        self.rng = rng

    def _owned_pods(self, owner: Obj) -> list[Obj]:
        uid = owner["metadata"]["uid"]
        pods = self.store.list_objects(r.PODS, owner["metadata"]["namespace"])
        return [pod for pod in pods if uid in owner_uids(pod)]

    def _new_pod(self, owner: Obj, name: str, labels: dict[str, str], node: str | None) -> Obj:
        template = owner["spec"]["template"]
        metadata: Obj = {
            "name": name,
            "labels": {**(template.get("metadata") or {}).get("labels", {}), **labels},
            "ownerReferences": [
                {
                    "apiVersion": owner["apiVersion"],
                    "kind": owner["kind"],
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        annotations = (template.get("metadata") or {}).get("annotations")
        if annotations:
            metadata["annotations"] = dict(annotations)
        spec = copy.deepcopy(template["spec"])
        if node:
            spec["nodeName"] = node
        return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}

    def _create_pod(
        self, owner: Obj, prefix: str, labels: dict[str, str], node: str | None = None
    ) -> str | None:
        """Create one pod; the error message if the API refused it (for ReplicaFailure)."""
        namespace = owner["metadata"]["namespace"]
        for _ in range(5):
            name = f"{prefix}-{random_suffix(self.rng)}"
            try:
                self.store.create(r.PODS, namespace, self._new_pod(owner, name, labels, node))
                return None
            except ApiError as exc:
                if exc.reason == "AlreadyExists":
                    continue
                # Real controllers create with generateName, so the error names the prefix;
                # that also keeps the message (and so the status) the same on every retry.
                message = exc.message.replace(f'"{name}"', f'"{prefix}-"')
                events.record(
                    self.store,
                    owner,
                    "Warning",
                    "FailedCreate",
                    f"Error creating: {message}",
                    component=self._component(owner),
                )
                return message
        return "could not find a free pod name"

    @staticmethod
    def _component(owner: Obj) -> str:
        return "replicaset-controller" if owner["kind"] == "Deployment" else "daemonset-controller"

    def _delete(self, pods: list[Obj]) -> None:
        for pod in pods:
            with contextlib.suppress(ApiError):
                self.store.delete(r.PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])

    def _write_status(self, resource: Resource, owner: Obj, status: Obj) -> None:
        def update(stored: Obj) -> None:
            stored["status"] = status

        meta = owner["metadata"]
        self.store.mutate(resource, meta["namespace"], meta["name"], update)

    # -----------------------------------------------------------------------------------------

    def reconcile_deployment(self, namespace: str, name: str) -> None:
        with self.store.lock:
            deployment = self.store.find(r.DEPLOYMENTS, namespace, name)
            if deployment is None or "deletionTimestamp" in deployment["metadata"]:
                return
            spec = deployment["spec"]
            wanted = int(spec.get("replicas", 1))
            revision = template_hash(spec["template"])
            pods = self._owned_pods(deployment)
            current = [
                p for p in pods if p["metadata"]["labels"].get("pod-template-hash") == revision
            ]
            self._delete([p for p in pods if p not in current])
            failure = None
            for _ in range(wanted - len(current)):
                failure = self._create_pod(
                    deployment, f"{name}-{revision}", {"pod-template-hash": revision}
                )
                if failure:
                    break
            if len(current) > wanted:
                # Scale down the least useful first: pods not ready yet.
                ranked = sorted(current, key=lambda p: (is_ready(p), p["metadata"]["name"]))
                self._delete(ranked[: len(current) - wanted])
            pods = self._owned_pods(deployment)
            self._write_status(
                r.DEPLOYMENTS,
                deployment,
                self._deployment_status(deployment, pods, revision, failure),
            )

    def _deployment_status(
        self, deployment: Obj, pods: list[Obj], revision: str, failure: str | None
    ) -> Obj:
        wanted = int(deployment["spec"].get("replicas", 1))
        current = [p for p in pods if p["metadata"]["labels"].get("pod-template-hash") == revision]
        ready = sum(1 for p in current if is_ready(p))
        previous = deployment.get("status", {}).get("conditions") or []
        replica_set = f"{deployment['metadata']['name']}-{revision}"
        done = ready >= wanted and len(current) == wanted
        conditions = [
            _condition(
                previous,
                "Available",
                ready >= wanted,
                "MinimumReplicasAvailable" if ready >= wanted else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if ready >= wanted
                else "Deployment does not have minimum availability.",
            ),
            _condition(
                previous,
                "Progressing",
                True,
                "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
                f'ReplicaSet "{replica_set}" has successfully progressed.'
                if done
                else f'ReplicaSet "{replica_set}" is progressing.',
            ),
        ]
        if failure:
            conditions.append(_condition(previous, "ReplicaFailure", True, "FailedCreate", failure))
        counts = {
            "replicas": len(pods),
            "updatedReplicas": len(current),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(wanted - ready, 0),
        }
        # Like the real API, zero counts are left out (they are omitempty).
        return {
            "observedGeneration": deployment["metadata"]["generation"],
            **{key: value for key, value in counts.items() if value},
            "conditions": conditions,
        }

    def reconcile_daemonset(self, namespace: str, name: str) -> None:
        with self.store.lock:
            daemonset = self.store.find(r.DAEMONSETS, namespace, name)
            if daemonset is None or "deletionTimestamp" in daemonset["metadata"]:
                return
            revision = template_hash(daemonset["spec"]["template"])
            labels = {
                "controller-revision-hash": revision,
                "pod-template-generation": str(daemonset["metadata"]["generation"]),
            }
            pods = self._owned_pods(daemonset)
            stale = [
                p
                for p in pods
                if p["metadata"]["labels"].get("controller-revision-hash") != revision
            ]
            self._delete(stale)
            placed = {p["spec"].get("nodeName") for p in pods if p not in stale}
            for node in self.config.node_names:
                if node not in placed and self._create_pod(daemonset, name, labels, node):
                    break
            pods = self._owned_pods(daemonset)
            nodes = len(self.config.node_names)
            ready = sum(1 for p in pods if is_ready(p))
            status: Obj = {
                "currentNumberScheduled": len(pods),
                "desiredNumberScheduled": nodes,
                "numberMisscheduled": 0,
                "numberReady": ready,
                "observedGeneration": daemonset["metadata"]["generation"],
            }
            optional = {
                "updatedNumberScheduled": len(pods),
                "numberAvailable": ready,
                "numberUnavailable": nodes - ready,
            }
            status.update({key: value for key, value in optional.items() if value})
            self._write_status(r.DAEMONSETS, daemonset, status)
