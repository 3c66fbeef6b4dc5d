"""The object store of one cluster: the API server's REST semantics over in-memory dicts.

Every read and write takes one re-entrant lock, so HTTP handlers (on the emulator's event
loop), controllers and a test's own thread can share a store. Listeners are called
synchronously after each committed change, in the thread that made it and with the lock held:
they must be quick and must not block. Reads and listeners get deep copies, never the stored
dicts.
"""

from __future__ import annotations

import copy
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from . import resources as r
from . import status
from .defaults import INITIAL_STATUS, apply_defaults, random_suffix, timestamp
from .patch import JSON_PATCH, MERGE, STRATEGIC, PatchError, json_patch, merge_patch
from .resources import RESOURCES, Resource
from .selectors import FieldSelector, Selector, fields_match, labels_match
from .status import FieldError
from .validation import validate, validate_update

Obj = dict[str, Any]
Listener = Callable[[str, Obj], None]
"""``(event, object)`` with event ``ADDED``, ``MODIFIED`` or ``DELETED``."""
Admission = Callable[[str, Resource, Obj, "Obj | None"], None]
"""``(verb, resource, new, old)`` run before a create or update is committed; it may change
``new`` in place or refuse by raising :class:`~.status.ApiError`."""

PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
_SERVER_SET = ("uid", "creationTimestamp", "deletionTimestamp", "generation", "namespace")


def _metadata(obj: Obj) -> Obj:
    metadata = obj.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise status.bad_request("metadata must be an object")
    return metadata


def _spec_part(obj: Obj) -> Obj:
    """What a change of bumps ``metadata.generation``: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def owner_uids(obj: Obj) -> set[str]:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return {str(ref.get("uid")) for ref in refs if isinstance(ref, dict)}


class Store:
    """Objects of all served resources, keyed by ``(namespace or "", name)``."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.lock = threading.RLock()
        self._objects: dict[Resource, dict[tuple[str, str], Obj]] = {res: {} for res in RESOURCES}
        self._revision = 0
        self._listeners: list[Listener] = []
        self._admission: list[Admission] = []
        self._rng = rng or random.Random()

    @property
    def revision(self) -> str:
        """The current resource version, as list responses report it."""
        return str(self._revision)

    def subscribe(self, listener: Listener, *, replay: bool = False) -> Callable[[], None]:
        """Call ``listener`` for every change; with ``replay``, first with ADDED for each
        stored object (namespaces first). Returns a function that unsubscribes."""
        with self.lock:
            if replay:
                for _, obj in self.items():
                    listener("ADDED", copy.deepcopy(obj))
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self.lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def add_admission(self, step: Admission) -> None:
        self._admission.append(step)

    # -----------------------------------------------------------------------------------------
    # reads

    def items(self) -> Iterator[tuple[Resource, Obj]]:
        """Every stored object (not copied: callers must hold the lock and not mutate)."""
        for resource, objects in self._objects.items():
            for key in sorted(objects):
                yield resource, objects[key]

    def find(self, resource: Resource, namespace: str | None, name: str) -> Obj | None:
        with self.lock:
            obj = self._objects[resource].get((namespace or "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def get(self, resource: Resource, namespace: str | None, name: str) -> Obj:
        obj = self.find(resource, namespace, name)
        if obj is None:
            raise status.not_found(resource, name)
        return obj

    def list_objects(
        self,
        resource: Resource,
        namespace: str | None = None,
        labels: Selector = (),
        fields: FieldSelector = (),
    ) -> list[Obj]:
        """Matching objects sorted by namespace and name; ``namespace=None`` means all."""
        with self.lock:
            objects = self._objects[resource]
            return [
                copy.deepcopy(objects[key])
                for key in sorted(objects)
                if (namespace is None or key[0] == namespace)
                and labels_match(labels, objects[key]["metadata"].get("labels"))
                and fields_match(fields, objects[key])
            ]

    def dependents(self, uid: str) -> list[tuple[Resource, Obj]]:
        """Objects with an owner reference to ``uid`` (copies)."""
        with self.lock:
            return [
                (res, copy.deepcopy(obj)) for res, obj in self.items() if uid in owner_uids(obj)
            ]

    # -----------------------------------------------------------------------------------------
    # writes

    def create(
        self, resource: Resource, namespace: str | None, body: Any, *, dry_run: bool = False
    ) -> Obj:
        with self.lock:
            obj = self._incoming(resource, namespace, body)
            metadata = obj["metadata"]
            if not metadata.get("name") and metadata.get("generateName"):
                metadata["name"] = str(metadata["generateName"]) + random_suffix(self._rng)
            name = str(metadata.get("name") or "")
            if not name:
                error = FieldError.required("metadata.name", "name or generateName is required")
                raise status.invalid(resource, "", [error])
            if resource.namespaced:
                self._check_namespace_open(resource, name, str(namespace))
            existing = self._objects[resource].get((namespace or "", name))
            if existing is not None:
                deleting = "deletionTimestamp" in existing["metadata"]
                raise status.already_exists(resource, name, deleting=deleting)
            for key in ("resourceVersion", "deletionTimestamp", "managedFields", "selfLink"):
                metadata.pop(key, None)
            metadata.update(uid=str(uuid.uuid4()), creationTimestamp=timestamp(), generation=1)
            if resource.has_status:
                obj.pop("status", None)
                if resource in INITIAL_STATUS:
                    obj["status"] = copy.deepcopy(INITIAL_STATUS[resource])
            apply_defaults(resource, obj)
            self._validate(resource, obj)
            for step in self._admission:
                step("create", resource, obj, None)
            if dry_run:
                return obj
            return self._commit("ADDED", resource, obj)

    def replace(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        with self.lock:
            old = self._stored(resource, namespace, name)
            obj = self._incoming(resource, namespace, body)
            metadata = obj["metadata"]
            metadata.setdefault("name", name)
            if metadata["name"] != name:
                raise status.bad_request(
                    f"the name of the object ({metadata['name']}) does not match the name on "
                    f"the URL ({name})"
                )
            wanted = metadata.get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise status.conflict(resource, name)
            if subresource == "status":
                new = copy.deepcopy(old)
                new["status"] = obj.get("status")
                if new["status"] is None:
                    del new["status"]
            else:
                new = obj
                for key in _SERVER_SET:
                    if key in old["metadata"]:
                        metadata[key] = old["metadata"][key]
                    else:
                        metadata.pop(key, None)
                if resource.has_status:
                    new.pop("status", None)
                    if "status" in old:
                        new["status"] = copy.deepcopy(old["status"])
                apply_defaults(resource, new)
            return self._update(resource, old, new, dry_run=dry_run)

    def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        content_type: str,
        patch: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        media_type = content_type.split(";")[0].strip()
        if media_type == STRATEGIC and not resource.builtin:
            # kube-apiserver refuses strategic merge for custom resources; so do we.
            raise status.unsupported_media_type(media_type, (JSON_PATCH, MERGE))
        with self.lock:
            old = self.get(resource, namespace, name)
            try:
                if media_type in (MERGE, STRATEGIC):
                    if not isinstance(patch, dict):
                        raise PatchError("a merge patch must be a JSON object")
                    patched = merge_patch(old, patch, by_name=media_type == STRATEGIC)
                elif media_type == JSON_PATCH:
                    patched = json_patch(old, patch)
                else:
                    accepted = (JSON_PATCH, MERGE, STRATEGIC)
                    raise status.unsupported_media_type(media_type, accepted)
            except PatchError as exc:
                raise status.ApiError(422, str(exc)) from exc
            return self.replace(
                resource, namespace, name, patched, subresource=subresource, dry_run=dry_run
            )

    def mutate(
        self, resource: Resource, namespace: str | None, name: str, change: Callable[[Obj], None]
    ) -> Obj | None:
        """Apply ``change`` to a copy and commit it if it changed anything.

        For controllers writing status: no validation, no admission, no generation bump.
        Returns the stored result, or ``None`` if the object is gone.
        """
        with self.lock:
            old = self._objects[resource].get((namespace or "", name))
            if old is None:
                return None
            new = copy.deepcopy(old)
            change(new)
            if new == old:
                return copy.deepcopy(old)
            return self._commit("MODIFIED", resource, new)

    def delete(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        *,
        propagation: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Delete and return the object as last stored.

        A namespace is only marked Terminating: the namespace controller empties and removes
        it. Dependents are left to the garbage collector, or orphaned with ``Orphan``.
        """
        with self.lock:
            old = self._stored(resource, namespace, name)
            if resource is r.NAMESPACES:
                if name in PROTECTED_NAMESPACES:
                    raise status.forbidden(resource, name, "this namespace may not be deleted")
                if dry_run or "deletionTimestamp" in old["metadata"]:
                    return copy.deepcopy(old)
                terminating = copy.deepcopy(old)
                terminating["metadata"]["deletionTimestamp"] = timestamp()
                terminating["status"] = {"phase": "Terminating"}
                return self._commit("MODIFIED", resource, terminating)
            if dry_run:
                return copy.deepcopy(old)
            if propagation == "Orphan":
                self._orphan(old["metadata"]["uid"])
            return self.remove(resource, namespace, name) or copy.deepcopy(old)

    def delete_collection(
        self,
        resource: Resource,
        namespace: str | None,
        labels: Selector = (),
        fields: FieldSelector = (),
        *,
        propagation: str | None = None,
        dry_run: bool = False,
    ) -> list[Obj]:
        with self.lock:
            return [
                self.delete(
                    resource,
                    namespace,
                    obj["metadata"]["name"],
                    propagation=propagation,
                    dry_run=dry_run,
                )
                for obj in self.list_objects(resource, namespace, labels, fields)
            ]

    def remove(self, resource: Resource, namespace: str | None, name: str) -> Obj | None:
        """Drop an object for good (no checks) and notify DELETED; ``None`` if absent."""
        with self.lock:
            obj = self._objects[resource].pop((namespace or "", name), None)
            if obj is None:
                return None
            self._revision += 1
            obj["metadata"]["resourceVersion"] = str(self._revision)
            self._notify("DELETED", obj)
            return copy.deepcopy(obj)

    # -----------------------------------------------------------------------------------------
    # internals

    def _stored(self, resource: Resource, namespace: str | None, name: str) -> Obj:
        obj = self._objects[resource].get((namespace or "", name))
        if obj is None:
            raise status.not_found(resource, name)
        return obj

    def _incoming(self, resource: Resource, namespace: str | None, body: Any) -> Obj:
        """A deep copy of a request body, checked against the URL it was sent to."""
        if not isinstance(body, dict):
            raise status.bad_request("the body of the request must be a JSON object")
        obj = copy.deepcopy(body)
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version and api_version != resource.api_version:
            raise status.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({resource.api_version})"
            )
        if kind and kind != resource.kind:
            raise status.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})"
            )
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        metadata = _metadata(obj)
        if resource.namespaced:
            if metadata.get("namespace") not in (None, "", namespace):
                raise status.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
        return obj

    def _check_namespace_open(self, resource: Resource, name: str, namespace: str) -> None:
        ns = self._objects[r.NAMESPACES].get(("", namespace))
        if ns is None:
            raise status.not_found(r.NAMESPACES, namespace)
        if "deletionTimestamp" in ns["metadata"]:
            why = (
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated"
            )
            cause = {
                "reason": "NamespaceTerminating",
                "message": why,
                "field": "metadata.namespace",
            }
            raise status.forbidden(resource, name, why, [cause])

    def _validate(self, resource: Resource, obj: Obj, old: Obj | None = None) -> None:
        errors = validate(resource, obj)
        if old is not None and not errors:
            errors = validate_update(resource, obj, old)
        if errors:
            raise status.invalid(resource, str(obj["metadata"].get("name", "")), errors)

    def _update(self, resource: Resource, old: Obj, new: Obj, *, dry_run: bool) -> Obj:
        self._validate(resource, new, old)
        for step in self._admission:
            step("update", resource, new, old)
        generation = old["metadata"].get("generation", 1)
        if _spec_part(new) != _spec_part(old):
            generation += 1
        new["metadata"]["generation"] = generation
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old or dry_run:
            return copy.deepcopy(new)
        return self._commit("MODIFIED", resource, new)

    def _orphan(self, uid: str) -> None:
        def drop_reference(obj: Obj) -> None:
            refs = [ref for ref in obj["metadata"]["ownerReferences"] if ref.get("uid") != uid]
            if refs:
                obj["metadata"]["ownerReferences"] = refs
            else:
                del obj["metadata"]["ownerReferences"]

        for res, obj in self.dependents(uid):
            meta = obj["metadata"]
            self.mutate(res, meta.get("namespace"), meta["name"], drop_reference)

    def _commit(self, event: str, resource: Resource, obj: Obj) -> Obj:
        self._revision += 1
        obj["metadata"]["resourceVersion"] = str(self._revision)
        meta = obj["metadata"]
        self._objects[resource][(meta.get("namespace") or "", meta["name"])] = obj
        self._notify(event, obj)
        return copy.deepcopy(obj)

    def _notify(self, event: str, obj: Obj) -> None:
        for listener in list(self._listeners):
            listener(event, copy.deepcopy(obj))
