"""The rule catalogue: every finding ID the tool reports, with the checks behind the rules.

The rules: Phoenix reference rules (V01–V38), general Kubernetes, secrets and isolation rules, each with an ID, a
title, why it matters, how to fix it and a severity per environment. The catalogue also lists, with `check=None`,
the findings the pipeline's stages raise (`YAML-*`, `SRC-*`, `KUSTOMIZE-BUILD`, `K8S-SCHEMA`, `ISO-ARGO-*`, ...:
`stages.py`), so that every ID a report carries is documented. Severities and the data the rules read are the
policy's (`phoenix_gitops/data/policy.yaml`, or a checked repository's own `schemas/policy.yaml`), checked against
the tool's `policy.schema.json`. `docs/rules.md` is generated from the catalogue and the default policy
(`invoke rules-doc`).

IDs: `PHX-Vnn` for the reference rule Vnn (V36 keeps its isolation ID `ISO-CLUSTER-DISTINCT`, which `render`
also reports); `K8S-*` general rules; `SEC-*` secrets; `ISO-*` isolation; `POLICY-SUPPRESS` for suppressions.
A suppression may name a Phoenix rule by its `Vnn`.

Usage:
    from phoenix_gitops import rules
    own = rules.check_view(view, policy)                      # one overlay's rules (check.run_check caches these)
    findings = rules.retune(graph.findings, policy)           # a stage's findings at the policy's severities
    rules.CATALOGUE["PHX-V08"].title
    text = rules.rules_markdown(rules.load_policy()[0])       # docs/rules.md
    rules.doc_anchor("YAML-SYNTAX")                           # 'yaml-syntax' (docs/rules.md#yaml-syntax)
"""
from __future__ import annotations

from . import (  # noqa: F401  (registration)
    admission,
    availability,
    general,
    isolation,
    manifests,
    namespaces,
    phoenix,
    secrets,
    security,
    stages,
    suppress,
)
from .docs import DOC_PATH, doc_anchor, rules_markdown
from .engine import AcrossRules, Context, ViewRules, all_envs, check_across, check_view, view_of, with_counts
from .policy import DEFAULT_POLICY, DEFAULT_POLICY_NAME, REPO_POLICY, Policy, load_policy, policy_file, retune
from .registry import CATALOGUE, Rule, resolve_id
from .suppress import ANNOTATION, Suppression

__all__ = [
    "CATALOGUE", "Rule", "Policy", "ViewRules", "AcrossRules", "Context", "Suppression", "ANNOTATION",
    "DEFAULT_POLICY", "DEFAULT_POLICY_NAME", "REPO_POLICY", "DOC_PATH", "check_view", "check_across",
    "with_counts", "view_of", "all_envs", "load_policy", "policy_file", "retune", "resolve_id", "rules_markdown",
    "doc_anchor",
]
