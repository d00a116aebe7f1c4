"""Findings: what a check found, where in the sources, how bad it is.

Usage:
    f = Finding("K8S-SCHEMA", "error", "$.spec.replicas: 'three' is not of type 'integer'",
                path="overlays/prod/api/deployment-patch.yaml", line=9, col=3,
                env="prod", app="api", resource="Deployment/api-web")
    str(f)
    # 'overlays/prod/api/deployment-patch.yaml:9:3: error K8S-SCHEMA $.spec.replicas: ... [prod/api Deployment/api-web]'
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Finding", "Located", "SEVERITIES", "sort_findings", "errors_in", "json_path"]

SEVERITIES = ("error", "warning", "info")


class Located:
    """`location` and `context` for anything that has path/line/col and env/app/resource attributes."""

    path: str
    line: int | None
    col: int | None
    env: str | None
    app: str | None
    resource: str | None

    @property
    def location(self) -> str:
        """`path:line:col`, or just the path where no line is known."""
        if self.line is None:
            return self.path
        return f"{self.path}:{self.line}:{self.col or 1}"

    @property
    def context(self) -> str:
        """` [env/app Kind/name]`, or '' when not tied to an environment or a rendered resource."""
        scope = "/".join(part for part in (self.env, self.app) if part)
        inside = " ".join(part for part in (scope, self.resource) if part)
        return f" [{inside}]" if inside else ""


@dataclass(frozen=True, order=False)
class Finding(Located):
    """One problem at one place. `line`/`col` are 1-based, None where no line can be known."""

    rule: str
    severity: str
    message: str
    path: str
    line: int | None = None
    col: int | None = None
    env: str | None = None
    app: str | None = None
    resource: str | None = None
    """`Kind/name` of the rendered resource the finding is about, if any."""

    def __str__(self) -> str:
        return f"{self.location}: {self.severity} {self.rule} {self.message}{self.context}"

    def sort_key(self) -> tuple[str, int, int, str, str, str]:
        return (self.path, self.line or 0, self.col or 0, self.rule, self.message, self.context)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Findings in file, line, column order, duplicates removed."""
    return sorted(set(findings), key=Finding.sort_key)


def errors_in(findings: Iterable[Finding]) -> list[Finding]:
    """The findings of severity error."""
    return [f for f in findings if f.severity == "error"]


def json_path(path: Iterable[str | int]) -> str:
    """`$.spec.containers[0].image` for ('spec', 'containers', 0, 'image')."""
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text
