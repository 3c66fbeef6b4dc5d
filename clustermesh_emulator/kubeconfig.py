"""A kubeconfig with one context per emulated cluster, as ``kind`` would name them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

TOKEN = "clustermesh-emulator"
"""A dummy bearer token: the emulator accepts any request, but clients like to send one."""


def kubeconfig(servers: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The kubeconfig for ``(context, server URL)`` pairs; the first is the current context."""
    pairs = list(servers)
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": url}} for name, url in pairs],
        "users": [{"name": name, "user": {"token": TOKEN}} for name, _ in pairs],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": name}} for name, _ in pairs
        ],
        "current-context": pairs[0][0] if pairs else "",
    }


def write(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
