"""The only package that reads or writes YAML: `load` (safe, capped source loader, the C loader for
kustomize's output, and a scalar-only event reader), `dump` (deterministic emitter) and `edit` (byte-exact
round-trip edits).

Everything a caller needs is re-exported here, so modules import from `yamlio` and never from its parts.

Usage:
    from phoenix_gitops.yamlio import load_file, dump_yaml, edit_mapping
    docs = load_file(Path("overlays/prod/environment.yaml"), name="overlays/prod/environment.yaml")
    text = dump_yaml(docs[0].data)
    text = edit_mapping(text, (), {"kubernetesVersion": "1.35"})
"""
from __future__ import annotations

from .dump import dump_yaml
from .edit import DELETE, edit_mapping
from .load import (
    MAX_BYTES,
    MAX_DEPTH,
    Ambiguity,
    Document,
    JsonPath,
    ScalarPath,
    YamlError,
    iter_paths,
    load_file,
    load_rendered,
    load_text,
    scalar_documents,
    yaml11_meaning,
)

__all__ = [
    "Document", "YamlError", "Ambiguity", "JsonPath", "load_text", "load_rendered", "load_file", "iter_paths",
    "scalar_documents", "ScalarPath", "yaml11_meaning", "MAX_BYTES", "MAX_DEPTH", "dump_yaml", "edit_mapping", "DELETE",
]
