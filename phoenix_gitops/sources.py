"""The sources behind one overlay, read safely and checked before kustomize sees them.

Starting at `overlays/<env>/<app>`, every kustomization reachable through `resources`, `bases` and
`components` is read with the safe loader, checked against
`phoenix_gitops/data/schemas/kustomization.schema.json`, and every file it names (resources, patches,
generator inputs, replacement files) is resolved and checked: no remote
bases, no absolute paths, nothing outside the repo (symlinks included), no other environment's folder, no
Helm, no plugins that run code. kustomize's built-in transformers and generators written as plugin configuration
(`apiVersion: builtin`, e.g. `kind: NamespaceTransformer`, in a file or inline under `transformers:` or
`generators:`) are accepted when their kind is in `BUILTIN_PLUGINS`, and the files they name are checked like a
kustomization's; anything else there (exec, container, KRM-function and Go plugins, any other apiVersion, a
`config.kubernetes.io/function` annotation) is SRC-PLUGIN at its line. YAML files are loaded too, so a YAML hazard
is reported at its file:line:col. Findings are collected; nothing stops at the first.

The result also tells what the build reads (for source-mapping findings and for knowing which overlays a
change can affect); `on_file` is told each of those files before anything reads it (the check hashes them
there, so a file edited while the check runs is noticed).

Usage:
    graph = read_sources(repo_root, overlay)
    graph = read_sources(repo_root, overlay, on_file=hasher)    # hasher("base/api/deployment.yaml") first
    graph.findings            # [Finding(...)]: empty when the sources are fine
    graph.patches             # patch documents, outermost overlay first
    graph.files               # every repo-relative file the build reads
    graph = read_plain(root, overlay, [root / "k8s/deployment.yaml"])   # plain manifests, no kustomization
    graph.documents           # {"k8s/deployment.yaml": [Document, ...]}
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .findings import Finding
from .layout import KUSTOMIZATION_FILES, Overlay, not_regular_kustomizations
from .own_schemas import check
from .yamlio import Document, YamlError, load_file, load_text

__all__ = ["SourceGraph", "Patch", "read_sources", "read_plain", "is_object", "BUILTIN_PLUGINS"]

_REMOTE = re.compile(r"^([a-z][a-z0-9+.-]*://|git@|github\.com/|gitlab\.com/|bitbucket\.org/)|\?ref=|//", re.I)
_FORBIDDEN_FIELDS = {
    "helmCharts": ("SRC-HELM", "Helm charts are not rendered by this repo; vendor the chart's rendered YAML"),
    "helmGlobals": ("SRC-HELM", "Helm charts are not rendered by this repo"),
    "helmChartInflationGenerator": ("SRC-HELM", "Helm charts are not rendered by this repo"),
    "validators": ("SRC-PLUGIN", "kustomize validator plugins run code and are not allowed"),
}
BUILTIN_PLUGINS = frozenset({
    "AnnotationsTransformer", "ConfigMapGenerator", "HashTransformer", "ImageTagTransformer", "LabelTransformer",
    "NamespaceTransformer", "PatchJson6902Transformer", "PatchStrategicMergeTransformer", "PatchTransformer",
    "PrefixSuffixTransformer", "PrefixTransformer", "SuffixTransformer", "ReplacementTransformer",
    "ReplicaCountTransformer",
})
"""kustomize's built-in plugins (`apiVersion: builtin`) accepted under `transformers:` and `generators:`: the
same code as the kustomization fields, run by kustomize itself. Not HelmChartInflationGenerator (it runs helm),
nor SecretGenerator: the secret checks read a kustomization's `secretGenerator` (its literals, whether the files it
reads are encrypted), not a plugin configuration, so its values would pass unseen."""
_BUILTIN = "builtin"
_FUNCTION_ANNOTATIONS = ("config.kubernetes.io/function", "config.k8s.io/function")
"""Annotations that make kustomize run a KRM function (an executable, a container, Starlark)."""
_PLUGIN_FIELDS = ("transformers", "generators")


@dataclass(frozen=True)
class Patch:
    """A patch document and where it was written (a patch file, or inline in a kustomization)."""

    doc: Document
    target_kind: str | None
    target_name: str | None


@dataclass
class SourceGraph:
    """What one overlay's build reads, and what is wrong with it."""

    overlay: Overlay
    kustomizations: list[str] = field(default_factory=list)
    """Repo-relative kustomization files, outermost (the overlay's own) first."""
    documents: dict[str, list[Document]] = field(default_factory=dict)
    """Repo-relative YAML file -> its documents, for every resource and patch file read."""
    patches: list[Patch] = field(default_factory=list)
    files: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    sort_options: dict[str, Any] | None = None
    """The overlay's own `sortOptions` (kustomize honours them only at the top)."""

    @property
    def ok(self) -> bool:
        """True when no finding is an error (kustomize may run)."""
        return not any(f.severity == "error" for f in self.findings)


Loaded = list[Document] | YamlError
"""A file's documents, or why it could not be read."""


OnFile = Callable[[str], object]
"""Called with a repo-relative file the build reads, before it is read (and again each time it is met)."""


def read_sources(repo_root: Path, overlay: Overlay, cache: dict[str, Loaded] | None = None,
                 on_file: OnFile | None = None, environments: bool = True) -> SourceGraph:
    """Read and check every source `overlay` builds from.

    Pass the same `cache` ({repo-relative path: loaded}) for the overlays of one run, so a base shared by many
    overlays is parsed once. `on_file` is called with every file of `graph.files` before it is parsed or
    checked. With `environments=False` (a tree that is not laid out as `overlays/<env>/`, as `lint` reads) no
    reference is taken for another environment's folder (ISO-CROSS-ENV).
    """
    graph = SourceGraph(overlay)
    reader = _Reader(repo_root.resolve(), graph, {} if cache is None else cache, on_file)
    reader.environments = environments
    reader.kustomization(overlay.path, top=True)
    return graph


def is_object(data: Any) -> bool:
    """Whether a YAML document is a Kubernetes object: a mapping with an `apiVersion` or a `kind`."""
    return isinstance(data, dict) and ("apiVersion" in data or "kind" in data)


def read_plain(repo_root: Path, overlay: Overlay, files: list[Path],
               cache: dict[str, Loaded] | None = None) -> SourceGraph:
    """Plain manifest files (no kustomization) as the sources of `overlay`: each loaded with the safe loader, its
    hazards reported at file:line (ambiguous plain values only in files that hold a Kubernetes object: a file of
    something else is none of this tool's business), its documents in `graph.documents`."""
    graph = SourceGraph(overlay)
    reader = _Reader(repo_root.resolve(), graph, {} if cache is None else cache, None)
    for path in files:
        rel = reader.rel(path.resolve())
        reader.uses(rel)
        docs = reader.parse(path, rel, ambiguities=False)
        graph.documents[rel] = docs or []
        if docs and any(is_object(doc.data) for doc in docs):
            reader.ambiguities(docs)
    return graph


class _Reader:
    def __init__(self, root: Path, graph: SourceGraph, cache: dict[str, Loaded], on_file: OnFile | None) -> None:
        self.root = root
        self.graph = graph
        self.cache = cache
        self.on_file = on_file
        self.seen: set[Path] = set()
        self.context = {"env": graph.overlay.env, "app": graph.overlay.app}
        self.environments = True

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def uses(self, rel: str) -> None:
        """`rel` is a file the build reads: it joins `graph.files`, and `on_file` hears of it before any read."""
        self.graph.files.add(rel)
        if self.on_file is not None:
            self.on_file(rel)

    def find(self, rule: str, message: str, path: str, line: int | None = None, col: int | None = None,
             severity: str = "error") -> None:
        self.graph.findings.append(Finding(rule, severity, message, path, line, col, **self.context))

    def kustomization(self, folder: Path, top: bool = False) -> None:
        real = folder.resolve()
        if real in self.seen:
            return
        self.seen.add(real)
        file = next((folder / name for name in KUSTOMIZATION_FILES if (folder / name).is_file()), None)
        if file is None:
            broken = not_regular_kustomizations(folder, self.rel(folder))
            for path, message in broken:
                self.find("SRC-MISSING", message, path)
            if not broken:
                self.find("SRC-MISSING", "no kustomization.yaml in this folder", self.rel(folder))
            return
        rel = self.rel(file)
        self.graph.kustomizations.append(rel)
        self.uses(rel)
        doc = self.load(file, rel)
        if doc is None:
            return
        if not isinstance(doc.data, dict):
            self.find("SRC-KUSTOMIZATION", "a kustomization must be a mapping", rel, 1, 1)
            return
        schema_findings = check(doc, "kustomization", rule="SRC-KUSTOMIZATION", **self.context)
        self.graph.findings += schema_findings
        data = doc.data
        if top and isinstance(data.get("sortOptions"), dict):
            self.graph.sort_options = data["sortOptions"]
        for key, (rule, message) in _FORBIDDEN_FIELDS.items():
            if key in data:
                self.find(rule, f"{key}: {message}", rel, *doc.position((key,)))
        if schema_findings:
            return  # the shapes below are not what the schema promises; say only what is certain
        for key in ("resources", "bases", "components"):
            for index, entry in enumerate(data.get(key, [])):
                target = self.reference(doc, (key, index), entry, folder)
                if target is None:
                    continue
                if target.is_dir():
                    self.kustomization(target)
                elif key == "components":
                    self.find("SRC-MISSING", f"component {entry!r} is not a folder", rel, *doc.position((key, index)))
                else:
                    self.yaml_file(target)
        for index, patch in enumerate(data.get("patches", [])):
            selects = patch.get("target") or {}
            if "patch" in patch:
                self.inline(doc, ("patches", index, "patch"), patch["patch"], selects)
            else:
                self.patch_file(doc, ("patches", index, "path"), patch["path"], folder, selects)
        for index, entry in enumerate(data.get("patchesStrategicMerge", [])):
            if "\n" in entry:
                self.inline(doc, ("patchesStrategicMerge", index), entry, {})
            else:
                self.patch_file(doc, ("patchesStrategicMerge", index), entry, folder, {})
        for index, patch in enumerate(data.get("patchesJson6902", [])):
            if "path" in patch:
                self.reference(doc, ("patchesJson6902", index, "path"), patch["path"], folder, must_be_file=True)
        for kind in ("configMapGenerator", "secretGenerator"):
            for g_index, generator in enumerate(data.get(kind, [])):
                for key in ("files", "envs"):
                    for index, entry in enumerate(generator.get(key, [])):
                        source = entry.split("=", 1)[1] if key == "files" and "=" in entry else entry
                        self.reference(doc, (kind, g_index, key, index), source, folder, must_be_file=True)
                if "env" in generator:
                    self.reference(doc, (kind, g_index, "env"), generator["env"], folder, must_be_file=True)
        for index, replacement in enumerate(data.get("replacements", [])):
            if "path" in replacement:
                target = self.reference(doc, ("replacements", index, "path"), replacement["path"], folder,
                                        must_be_file=True)
                if target is not None:
                    self.yaml_file(target)
        for key in ("configurations", "crds"):
            for index, entry in enumerate(data.get(key, [])):
                target = self.reference(doc, (key, index), entry, folder, must_be_file=True)
                if target is not None:
                    self.yaml_file(target)
        for key in _PLUGIN_FIELDS:
            for index, entry in enumerate(data.get(key, [])):
                self.plugin_entry(doc, (key, index), entry, folder)

    def plugin_entry(self, doc: Document, path: tuple[Any, ...], entry: Any, folder: Path) -> None:
        """One entry of `transformers:`/`generators:`: a file or an inline document of plugin configuration."""
        if not isinstance(entry, str) or not entry.strip():
            self.find("SRC-PLUGIN", f"{path[0]}: expected a file name or an inline configuration", doc.source,
                      *doc.position(path))
            return
        if "\n" in entry.strip() or entry.lstrip().startswith(("apiVersion:", "kind:", "{")):
            configs = self.inline_docs(doc, path, entry)
        else:
            target = self.reference(doc, path, entry, folder)
            if target is None:
                return
            if target.is_dir():
                self.find("SRC-PLUGIN", f"{entry!r} is a folder: list the plugin configuration files themselves",
                          doc.source, *doc.position(path))
                return
            configs = self.yaml_file(target)
        for config in configs or []:
            self.plugin_config(config, folder)

    def plugin_config(self, doc: Document, folder: Path) -> None:
        """One plugin configuration: a built-in plugin of BUILTIN_PLUGINS, or SRC-PLUGIN (SRC-HELM) at its line;
        the files it names are checked (relative to the kustomization's folder, as kustomize reads them)."""
        data = doc.data
        if not isinstance(data, dict):
            self.find("SRC-PLUGIN", "a plugin configuration must be a mapping", doc.source, *doc.position(()))
            return
        api_version, kind = data.get("apiVersion"), data.get("kind")
        metadata = _mapping(data.get("metadata"))
        annotations = _mapping(metadata.get("annotations"))
        for name in _FUNCTION_ANNOTATIONS:
            if name in annotations:
                self.find("SRC-PLUGIN", f"{name}: a KRM function plugin runs an executable or a container; "
                          "use a built-in plugin", doc.source,
                          *doc.position(("metadata", "annotations", name)))
                return
        if api_version != _BUILTIN:
            self.find("SRC-PLUGIN", f"{kind} {api_version}: only kustomize's built-in plugins (apiVersion: builtin) "
                      "are accepted; exec, container and Go plugins run code", doc.source,
                      *doc.position(("apiVersion",) if "apiVersion" in data else ()))
            return
        if kind == "SecretGenerator":
            self.find("SRC-PLUGIN", f"builtin {kind}: write it as the kustomization's `secretGenerator:` field, where "
                      "its literals and the files it reads are checked (PHX-V06)", doc.source, *doc.position(("kind",)))
            return
        if kind == "HelmChartInflationGenerator":
            self.find("SRC-HELM", f"{kind}: Helm charts are not rendered by this repo; vendor the chart's rendered "
                      "YAML", doc.source, *doc.position(("kind",)))
            return
        if kind not in BUILTIN_PLUGINS:
            self.find("SRC-PLUGIN", f"builtin {kind} is not among the accepted built-in plugins "
                      f"({', '.join(sorted(BUILTIN_PLUGINS))})", doc.source,
                      *doc.position(("kind",) if "kind" in data else ()))
            return
        self.plugin_files(doc, data, str(kind), folder)

    def plugin_files(self, doc: Document, data: dict[str, Any], kind: str, folder: Path) -> None:
        """The files a built-in plugin configuration names, each checked like a kustomization's."""
        target = _mapping(data.get("target"))
        if kind == "ConfigMapGenerator":
            for key in ("files", "envs"):
                for index, entry in enumerate(_strings(data.get(key))):
                    source = entry.split("=", 1)[1] if key == "files" and "=" in entry else entry
                    self.reference(doc, (key, index), source, folder, must_be_file=True)
            if isinstance(data.get("env"), str):
                self.reference(doc, ("env",), data["env"], folder, must_be_file=True)
        elif kind == "PatchTransformer":
            if isinstance(data.get("path"), str):
                self.patch_file(doc, ("path",), data["path"], folder, target)
            elif isinstance(data.get("patch"), str):
                self.inline(doc, ("patch",), data["patch"], target)
        elif kind == "PatchStrategicMergeTransformer":
            for index, entry in enumerate(_strings(data.get("paths"))):
                self.patch_file(doc, ("paths", index), entry, folder, {})
            if isinstance(data.get("patches"), str):
                self.inline(doc, ("patches",), data["patches"], {})
        elif kind == "PatchJson6902Transformer" and isinstance(data.get("path"), str):
            self.reference(doc, ("path",), data["path"], folder, must_be_file=True)
        elif kind == "ReplacementTransformer":
            for index, replacement in enumerate(data.get("replacements") or []):
                if isinstance(replacement, dict) and isinstance(replacement.get("path"), str):
                    found = self.reference(doc, ("replacements", index, "path"), replacement["path"], folder,
                                           must_be_file=True)
                    if found is not None:
                        self.yaml_file(found)

    def reference(self, doc: Document, path: tuple[Any, ...], entry: str, folder: Path,
                  must_be_file: bool = False) -> Path | None:
        """Resolve a path a kustomization names; report and return None when it may not be followed."""
        line, col = doc.position(path)
        if _REMOTE.search(entry):
            self.find("SRC-REMOTE",
                      f"remote reference {entry!r}: builds must not reach the network; vendor it into the repo",
                      doc.source, line, col)
            return None
        if os.path.isabs(entry):
            self.find("SRC-PATH", f"absolute path {entry!r}: use a path relative to the kustomization",
                      doc.source, line, col)
            return None
        target = Path(os.path.normpath(folder / entry))
        try:
            real = target.resolve()
        except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
            self.find("SRC-PATH", f"{entry!r} is a symlink loop", doc.source, line, col)
            return None
        if not real.is_relative_to(self.root) or not target.is_relative_to(self.root):
            how = "through a symlink " if target.is_relative_to(self.root) else ""
            self.find("SRC-PATH", f"{entry!r} leads {how}outside the repository", doc.source, line, col)
            return None
        relative = self.rel(real)
        parts = relative.split("/")
        if self.environments and len(parts) > 1 and parts[0] == "overlays" and parts[1] != self.graph.overlay.env:
            self.find("ISO-CROSS-ENV",
                      f"{entry!r} reaches into overlays/{parts[1]}: "
                      "an environment may only use its own overlays and base/",
                      doc.source, line, col)
            return None
        if not real.exists():
            self.find("SRC-MISSING", f"{entry!r} does not exist", doc.source, line, col)
            return None
        if must_be_file and not real.is_file():
            self.find("SRC-MISSING", f"{entry!r} is not a file", doc.source, line, col)
            return None
        if real.is_file():
            self.uses(relative)
        return target

    def patch_file(self, doc: Document, path: tuple[Any, ...], entry: str, folder: Path,
                   target: dict[str, Any]) -> None:
        file = self.reference(doc, path, entry, folder, must_be_file=True)
        for patch_doc in self.yaml_file(file) if file is not None else []:
            self.add_patch(patch_doc, target)

    def inline(self, doc: Document, path: tuple[Any, ...], text: str, target: dict[str, Any]) -> None:
        """An inline patch: parsed on its own, its lines shifted to where it stands in the kustomization."""
        for patch_doc in self.inline_docs(doc, path, text, "patch") or []:
            self.add_patch(patch_doc, target)

    def inline_docs(self, doc: Document, path: tuple[Any, ...], text: str,
                    what: str = "configuration") -> list[Document] | None:
        """A YAML block written as a string inside `doc` (an inline patch or plugin configuration): parsed on its
        own, its lines shifted to where it stands; None (and its finding) when it does not parse."""
        line, col = doc.position(path)
        try:
            parsed = load_text(text, doc.source)
        except YamlError as err:
            shifted = (err.line or 1) + line
            self.find(err.rule, f"in the inline {what}: {err.detail}", doc.source, shifted, col)
            return None
        shifted_docs = []
        for inner in parsed:
            lines = {p: (at_line + line, at_col + col + 1) for p, (at_line, at_col) in inner.lines.items()}
            shifted_docs.append(Document(doc.source, inner.index, inner.data, lines))
        return shifted_docs

    def add_patch(self, doc: Document, target: dict[str, Any]) -> None:
        data = doc.data if isinstance(doc.data, dict) else {}
        metadata = data["metadata"] if isinstance(data.get("metadata"), dict) else {}
        self.graph.patches.append(
            Patch(doc, target.get("kind") or data.get("kind"), target.get("name") or metadata.get("name"))
        )

    def yaml_file(self, path: Path) -> list[Document]:
        rel = self.rel(path.resolve())
        self.uses(rel)
        if rel in self.graph.documents:
            return self.graph.documents[rel]
        docs = self.parse(path, rel) or []
        self.graph.documents[rel] = docs
        return docs

    def load(self, file: Path, rel: str) -> Document | None:
        docs = self.parse(file, rel)
        if docs is None:
            return None
        self.graph.documents[rel] = docs
        if len(docs) != 1:
            self.find("SRC-KUSTOMIZATION", f"expected exactly one YAML document, found {len(docs)}", rel, 1, 1)
            return None
        return docs[0]

    def parse(self, path: Path, rel: str, ambiguities: bool = True) -> list[Document] | None:
        """The file's documents (from the run's cache when another overlay read it), reporting its hazards."""
        if rel not in self.cache:
            try:
                self.cache[rel] = load_file(path, name=rel)
            except YamlError as err:
                self.cache[rel] = err
        loaded = self.cache[rel]
        if isinstance(loaded, YamlError):
            self.find(loaded.rule, loaded.detail, rel, loaded.line, loaded.col)
            return None
        if ambiguities:
            self.ambiguities(loaded)
        return loaded

    def ambiguities(self, docs: list[Document]) -> None:
        for doc in docs:
            for item in doc.ambiguities:
                if item.yaml11.startswith("boolean"):  # one of a few fixed words: safe to quote back
                    said = f"{item.text!r} is read as {item.yaml11}"
                else:  # digits may be a PIN or a token: neither the text nor the number it becomes is shown
                    kind = {"octal": "an octal integer", "the": "a number"}.get(item.yaml11.split(" ")[0], item.yaml11)
                    said = f"value (not shown) is read as {kind}"
                self.find("YAML-AMBIGUOUS", f"plain {said} by YAML 1.1 tools (kubectl, Argo CD); quote it",
                          doc.source, item.line, item.col)


def _strings(value: Any) -> list[str]:
    """The strings of a list (a plugin configuration is checked by no schema)."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _mapping(value: Any) -> dict[str, Any]:
    """`value` when it is a mapping, else an empty one."""
    return value if isinstance(value, dict) else {}
