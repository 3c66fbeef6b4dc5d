"""Address allocation for pods and services from a cluster's ranges."""

from __future__ import annotations

import ipaddress
from typing import Any

from . import resources as r
from . import status
from .resources import Resource
from .status import FieldError

Obj = dict[str, Any]


class PoolExhausted(RuntimeError):
    pass


class AddressPool:
    """Hands out host addresses from the ``first``-th on, in order, reusing released ones last.

    Not thread-safe on its own: the cluster calls it with its store lock held.
    """

    def __init__(self, network: ipaddress.IPv4Network, *, first: int = 1) -> None:
        self.network = network
        self._base = network.network_address + first
        self._size = max(network.num_addresses - 1 - first, 0)
        self._next = 0
        self._used: set[str] = set()

    def allocate(self) -> str:
        for _ in range(self._size):
            candidate = str(self._base + self._next)
            self._next = (self._next + 1) % self._size
            if candidate not in self._used:
                self._used.add(candidate)
                return candidate
        raise PoolExhausted(f"no free address left in {self.network}")

    def reserve(self, address: str) -> bool:
        """Take a specific address; ``False`` if it is outside the range or taken."""
        if ipaddress.ip_address(address) not in self.network or address in self._used:
            return False
        self._used.add(address)
        return True

    def release(self, address: str) -> None:
        self._used.discard(address)


class ServiceAddresses:
    """ClusterIP allocation as kube-apiserver does it: at create, kept on update, freed on
    delete. ``admit`` is an admission step, ``on_event`` a store listener."""

    def __init__(self, network: ipaddress.IPv4Network) -> None:
        self.pool = AddressPool(network)

    def admit(self, verb: str, resource: Resource, service: Obj, old: Obj | None) -> None:
        if resource is not r.SERVICES:
            return
        spec = service["spec"]
        if old is not None:
            for key in ("clusterIP", "clusterIPs"):
                if key in old["spec"]:
                    spec.setdefault(key, old["spec"][key])
            return
        if spec.get("type") == "ExternalName":
            return
        address = spec.get("clusterIP")
        if address == "None":
            spec["clusterIPs"] = ["None"]
            return
        if address and not self.pool.reserve(address):
            detail = f"failed to allocate IP {address}: provided IP is already allocated"
            error = FieldError.invalid("spec.clusterIPs", [address], detail)
            raise status.invalid(r.SERVICES, service["metadata"]["name"], [error])
        address = address or self.pool.allocate()
        spec["clusterIP"], spec["clusterIPs"] = address, [address]

    def on_event(self, event: str, obj: Obj) -> None:
        if event == "DELETED" and obj["kind"] == "Service":
            address = obj.get("spec", {}).get("clusterIP")
            if address and address != "None":
                self.pool.release(address)
