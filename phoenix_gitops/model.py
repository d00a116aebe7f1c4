"""What a check produces for each overlay and every later stage reads: its build output, with or without origins.

An `Output` is what kustomize printed for one overlay and the resources in it. A `Rendered` is an output built
with kustomize's origin annotations: each resource also carries its origin (the source file it came from, or the
kustomization whose generator made it), which is what puts a finding at its source line. Origin tracking costs
kustomize about twice the build, so `check.run_check` builds with origins only the overlays that need them; the
type says which build has them.

Usage:
    output = Output(overlay, text, resources)                # a plain build
    rendered = Rendered(overlay, text, resources, origins)    # the same build, with each resource's origin
    rendered.origins[0]                                       # {'path': 'base/api/deployment.yaml'}
    isinstance(output, Rendered)                              # False: its findings cannot be located yet
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .layout import Overlay

__all__ = ["Output", "Rendered", "Origin"]

Origin = dict[str, str]
"""Where kustomize took one resource from: `{'path': <source file>}` or `{'configuredIn': <kustomization>}`."""


@dataclass(frozen=True)
class Output:
    """One overlay's build: the exact text to write and the resources in it."""

    overlay: Overlay
    text: str
    """Byte-for-byte what a plain `kustomize build` prints."""
    resources: tuple[dict[str, Any], ...]
    """The parsed resources (no origin annotation)."""


@dataclass(frozen=True)
class Rendered(Output):
    """A build with kustomize's origin annotations: the same text and resources, and each resource's origin."""

    origins: tuple[Origin, ...]
    """One per resource, in the same order."""
