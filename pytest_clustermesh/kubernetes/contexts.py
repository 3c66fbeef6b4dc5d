"""Whether the kubeconfig has the contexts the run names, checked once at start-up: a typo in
``--kube-contexts`` is one usage error listing the contexts there are, not one failure per item."""

from __future__ import annotations

from collections.abc import Sequence

from kubernetes.config import list_kube_config_contexts
from kubernetes.config.config_exception import ConfigException


def missing_contexts(kubeconfig: str | None, contexts: Sequence[str]) -> str | None:
    """Why ``contexts`` cannot all be used from ``kubeconfig``; ``None`` when they can."""
    where = kubeconfig or "the default kubeconfig (~/.kube/config)"
    try:
        available, _ = list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, ValueError) as exc:
        return (
            f"--kube-contexts: cannot read the contexts of {where}: {exc} (pass --kubeconfig or "
            "set KUBECONFIG)"
        )
    names = [str(context["name"]) for context in available or []]
    missing = [context for context in contexts if context not in names]
    if not missing:
        return None
    return (
        f"--kube-contexts names {', '.join(missing)}, which {where} does not have; its "
        f"contexts are: {', '.join(names) or 'none'}"
    )
