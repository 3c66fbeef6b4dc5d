"""Validation the real API server would do, limited to mistakes a backend can plausibly make.

Messages copy kube-apiserver's wording so a test can show what a user would see.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import resources as r
from .resources import NameRule, Resource
from .selectors import labels_match, selector_from_spec
from .status import FieldError

Obj = dict[str, Any]

_NAME_RULES: dict[NameRule, tuple[re.Pattern[str], int, str]] = {
    "dns1123-label": (
        re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"),
        63,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
        "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
        "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    ),
    "dns1123-subdomain": (
        re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"),
        253,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
        "'-' or '.', and must start and end with an alphanumeric character (e.g. "
        "'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ),
    "dns1035-label": (
        re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?"),
        63,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
        "with an alphabetic character, and end with an alphanumeric character (e.g. "
        "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
    ),
}

_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE_HELP = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


def name_errors(rule: NameRule, name: str, field: str = "metadata.name") -> list[FieldError]:
    pattern, limit, help_text = _NAME_RULES[rule]
    errors = []
    if len(name) > limit:
        errors.append(FieldError.invalid(field, name, f"must be no more than {limit} characters"))
    if not pattern.fullmatch(name):
        errors.append(FieldError.invalid(field, name, help_text))
    return errors


def _label_errors(labels: Any, field: str) -> list[FieldError]:
    if not isinstance(labels, dict):
        return []
    errors = []
    for key, value in labels.items():
        prefix, _, name = str(key).rpartition("/")
        if (
            not _LABEL_NAME.fullmatch(name)
            or len(name) > 63
            or (prefix and name_errors("dns1123-subdomain", prefix))
        ):
            errors.append(FieldError.invalid(field, key, "name part must be a valid label key"))
        if not isinstance(value, str) or not _LABEL_VALUE.fullmatch(value) or len(value) > 63:
            errors.append(FieldError.invalid(field, value, _LABEL_VALUE_HELP))
    return errors


def _pod_spec_errors(spec: Any, path: str) -> list[FieldError]:
    if not isinstance(spec, dict):
        return [FieldError.required(f"{path}.containers")]
    containers = spec.get("containers")
    if not containers or not isinstance(containers, list):
        return [FieldError.required(f"{path}.containers")]
    errors, seen = [], set()
    for index, container in enumerate(containers):
        where = f"{path}.containers[{index}]"
        if not isinstance(container, dict):
            errors.append(FieldError.invalid(where, container, "must be an object"))
            continue
        name = container.get("name")
        if not name:
            errors.append(FieldError.required(f"{where}.name"))
        else:
            errors += name_errors("dns1123-label", str(name), f"{where}.name")
            if name in seen:
                errors.append(
                    FieldError(f"{where}.name", "FieldValueDuplicate", f'Duplicate value: "{name}"')
                )
            seen.add(name)
        if not container.get("image"):
            errors.append(FieldError.required(f"{where}.image"))
    return errors


def _workload_errors(obj: Obj) -> list[FieldError]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [FieldError.required("spec.selector"), FieldError.required("spec.template")]
    errors = []
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    selector = spec.get("selector")
    if not selector:
        errors.append(FieldError.required("spec.selector"))
    elif not labels_match(selector_from_spec(selector), labels):
        errors.append(
            FieldError.invalid(
                "spec.template.metadata.labels",
                labels,
                "`selector` does not match template `labels`",
            )
        )
    errors += _pod_spec_errors(template.get("spec"), "spec.template.spec")
    replicas = spec.get("replicas", 0)
    if not isinstance(replicas, int) or replicas < 0:
        errors.append(
            FieldError.invalid("spec.replicas", replicas, "must be greater than or equal to 0")
        )
    return errors


def _service_errors(obj: Obj) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors = []
    ports = spec.get("ports") or []
    for index, port in enumerate(ports):
        where = f"spec.ports[{index}]"
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(number, int) or not 1 <= number <= 65535:
            errors.append(
                FieldError.invalid(
                    f"{where}.port", number, "must be between 1 and 65535, inclusive"
                )
            )
        if isinstance(port, dict) and port.get("protocol") not in ("TCP", "UDP", "SCTP"):
            errors.append(
                FieldError(
                    f"{where}.protocol",
                    "FieldValueNotSupported",
                    f'Unsupported value: "{port.get("protocol")}": supported '
                    'values: "SCTP", "TCP", "UDP"',
                )
            )
        if len(ports) > 1 and isinstance(port, dict) and not port.get("name"):
            errors.append(FieldError.required(f"{where}.name"))
    if spec.get("type") not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        errors.append(
            FieldError(
                "spec.type", "FieldValueNotSupported", f'Unsupported value: "{spec.get("type")}"'
            )
        )
    return errors


_KIND_CHECKS: dict[Resource, Callable[[Obj], list[FieldError]]] = {
    r.PODS: lambda obj: _pod_spec_errors(obj.get("spec"), "spec"),
    r.DEPLOYMENTS: _workload_errors,
    r.DAEMONSETS: _workload_errors,
    r.SERVICES: _service_errors,
}


def validate(resource: Resource, obj: Obj) -> list[FieldError]:
    """Errors of a defaulted object about to be stored (created or updated)."""
    metadata = obj.get("metadata") or {}
    errors = name_errors(resource.name_rule, str(metadata.get("name", "")))
    errors += _label_errors(metadata.get("labels"), "metadata.labels")
    check = _KIND_CHECKS.get(resource)
    return errors + (check(obj) if check else [])


_POD_MUTABLE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def _without_images(spec: Any) -> Any:
    if not isinstance(spec, dict):
        return spec
    stripped = {k: v for k, v in spec.items() if k not in ("activeDeadlineSeconds", "tolerations")}
    for key in ("containers", "initContainers"):
        if isinstance(spec.get(key), list):
            stripped[key] = [
                {k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c
                for c in spec[key]
            ]
    return stripped


def validate_update(resource: Resource, new: Obj, old: Obj) -> list[FieldError]:
    """Immutable fields; ``new`` is already defaulted and carries over server-set fields."""
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    if resource is r.PODS and _without_images(new_spec) != _without_images(old_spec):
        return [FieldError.forbidden("spec", _POD_MUTABLE)]
    selector = new_spec.get("selector")
    if resource in (r.DEPLOYMENTS, r.DAEMONSETS) and selector != old_spec.get("selector"):
        return [FieldError.invalid("spec.selector", selector, "field is immutable")]
    new_ip = new_spec.get("clusterIP")
    if resource is r.SERVICES and new_ip and new_ip != old_spec.get("clusterIP"):
        return [
            FieldError.invalid("spec.clusterIP", new_spec.get("clusterIP"), "field is immutable")
        ]
    return []
