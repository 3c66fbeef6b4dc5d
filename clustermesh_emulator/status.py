"""API errors as real ``Status`` objects, worded like kube-apiserver's.

Clients and humans match on ``reason`` and on the message text (``pods "x" not found``), so
both follow the real server's phrasing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .resources import Resource

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass(frozen=True)
class FieldError:
    """One ``details.causes`` entry of a 422."""

    field: str
    reason: str
    """``FieldValueRequired``, ``FieldValueInvalid``, ``FieldValueForbidden``..."""
    message: str

    @classmethod
    def required(cls, field: str, detail: str = "") -> FieldError:
        message = "Required value" + (f": {detail}" if detail else "")
        return cls(field, "FieldValueRequired", message)

    @classmethod
    def invalid(cls, field: str, value: object, detail: str) -> FieldError:
        shown = f'"{value}"' if isinstance(value, str) else repr(value)
        return cls(field, "FieldValueInvalid", f"Invalid value: {shown}: {detail}")

    @classmethod
    def forbidden(cls, field: str, detail: str) -> FieldError:
        return cls(field, "FieldValueForbidden", f"Forbidden: {detail}")

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ApiError(Exception):
    """An error answer of the API server; :meth:`body` is its ``Status``."""

    def __init__(
        self,
        code: int,
        message: str,
        details: dict[str, Any] | None = None,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return status


def _details(resource: Resource, name: str, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if resource.group:
        details["group"] = resource.group
    details["kind"] = resource.plural
    details.update(extra)
    return details


def success(resource: Resource, name: str, uid: str) -> dict[str, Any]:
    """The ``Status`` a DELETE answers with for most built-in kinds."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": _details(resource, name, uid=uid),
    }


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(404, f'{resource.qualified} "{name}" not found', _details(resource, name))


def path_not_found() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", {})


def already_exists(resource: Resource, name: str, *, deleting: bool = False) -> ApiError:
    prefix = "object is being deleted: " if deleting else ""
    message = f'{prefix}{resource.qualified} "{name}" already exists'
    return ApiError(409, message, _details(resource, name), reason="AlreadyExists")


def conflict(resource: Resource, name: str) -> ApiError:
    message = (
        f'Operation cannot be fulfilled on {resource.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    return ApiError(409, message, _details(resource, name))


def invalid(resource: Resource, name: str, errors: list[FieldError]) -> ApiError:
    listed = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(map(str, errors)) + "]"
    details: dict[str, Any] = {"name": name}
    if resource.group:
        details["group"] = resource.group
    details["kind"] = resource.kind
    details["causes"] = [
        {"reason": e.reason, "message": e.message, "field": e.field} for e in errors
    ]
    return ApiError(422, f'{resource.qualified_kind} "{name}" is invalid: {listed}', details)


def forbidden(
    resource: Resource, name: str, why: str, causes: list[dict[str, str]] | None = None
) -> ApiError:
    details = _details(resource, name)
    if causes:
        details["causes"] = causes
    return ApiError(403, f'{resource.qualified} "{name}" is forbidden: {why}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def method_not_allowed(method: str) -> ApiError:
    return ApiError(
        405, f"the server does not allow this method ({method}) on the requested resource", {}
    )


def unsupported_media_type(content_type: str, accepted: tuple[str, ...]) -> ApiError:
    return ApiError(
        415,
        f"the body of the request was in an unknown format ({content_type or 'none'}) - "
        f"accepted media types include: {', '.join(accepted)}",
    )
