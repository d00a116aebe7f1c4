"""The two phases of each app's rendered output, so that both engines can run the migration before the release.

`render` writes one app's build in two folders, each in build order, each byte-for-byte the documents kustomize
printed:

    rendered/<env>/<app>/prepare/manifest.yaml   everything the release needs before its pods start: Namespace,
                                                 ServiceAccount, config, secrets, Services, routes, network
                                                 policies, and the migration Job
    rendered/<env>/<app>/release/manifest.yaml   the workloads that run the release and what scales or guards
                                                 them (RELEASE_KINDS)

Argo CD syncs the app's folder recursively as one Application and orders it by sync waves and hooks. Flux applies
each phase with its own Kustomization: the `release` one `dependsOn` the `prepare` one, which turns Ready only
when the migration Job has completed (`bootstrap.py`). An app with nothing of one phase has no folder for it.

Usage:
    phase_of({"kind": "Deployment", ...})        # 'release'
    phase_of({"kind": "Job", ...})               # 'prepare'
    split(output)                                # {'prepare': '<documents>', 'release': '<documents>'}
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import ToolError
from .model import Output

__all__ = ["PREPARE", "RELEASE", "PHASES", "RELEASE_KINDS", "phase_of", "phases_of", "split"]

PREPARE = "prepare"
RELEASE = "release"
PHASES = (PREPARE, RELEASE)
"""In the order they are applied."""
RELEASE_KINDS = frozenset({
    "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod", "CronJob",
    "HorizontalPodAutoscaler", "PodDisruptionBudget",
})
"""The kinds that run the release's code, or scale or guard what does; any other kind is prepared first."""

_SEPARATOR = re.compile(r"^---\n", re.MULTILINE)


def phase_of(resource: Mapping[str, Any]) -> str:
    """The phase that applies `resource`."""
    return RELEASE if resource.get("kind") in RELEASE_KINDS else PREPARE


def phases_of(resources: Any) -> tuple[str, ...]:
    """The phases that the parsed `resources` of one app fill, in PHASES order."""
    present = {phase_of(r) for r in resources if isinstance(r, Mapping)}
    return tuple(phase for phase in PHASES if phase in present)


def split(output: Output) -> dict[str, str]:
    """The documents of `output` grouped by phase, each group in build order and byte-for-byte as kustomize
    printed them; phases without documents are left out. Raises ToolError when the text does not hold one
    document per parsed resource (kustomize printed something this cannot split)."""
    documents = [doc for doc in _SEPARATOR.split(output.text) if doc.strip()]
    if len(documents) != len(output.resources):
        raise ToolError(f"rendered/{output.overlay.id}: kustomize printed {len(documents)} documents for "
                        f"{len(output.resources)} resources; cannot split them into {' and '.join(PHASES)}")
    grouped: dict[str, list[str]] = {}
    for document, resource in zip(documents, output.resources, strict=True):
        grouped.setdefault(phase_of(resource), []).append(document)
    return {phase: "---\n".join(grouped[phase]) for phase in PHASES if phase in grouped}
