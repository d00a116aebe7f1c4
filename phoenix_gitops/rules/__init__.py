"""The rule catalogue: Phoenix reference rules (V01–V38), general Kubernetes, secrets and isolation rules.

Every rule has an ID, a title, why it matters, how to fix it and a severity per environment; the severities and
the data the rules read (allow-lists, per-environment bounds) are in `schemas/policy.yaml`, checked against
`schemas/policy.schema.json`. `docs/rules.md` is generated from the catalogue and the policy (`invoke rules-doc`).

IDs: `PHX-Vnn` for the reference rule Vnn (V36 keeps its isolation ID `ISO-CLUSTER-DISTINCT`, which `render`
also reports); `K8S-*` general rules; `SEC-*` secrets; `ISO-*` isolation; `POLICY-SUPPRESS` for suppressions.
A suppression may name a Phoenix rule by its `Vnn`.

Usage:
    from phoenix_gitops import rules
    result = rules.evaluate(envs, rendered, graphs)           # Evaluation(findings, suppressions, tool_errors)
    own = rules.check_view(view, policy)                      # one overlay's rules (check.run_check caches these)
    rules.CATALOGUE["PHX-V08"].title
    text = rules.rules_markdown(rules.load_policy()[0])       # docs/rules.md
"""
from __future__ import annotations

from . import availability, general, isolation, phoenix, secrets, security, suppress  # noqa: F401  (registration)
from .docs import rules_markdown
from .engine import (AcrossRules, Context, Evaluation, ViewRules, all_envs, check_across, check_view, evaluate,
                     view_of, with_counts)
from .policy import POLICY_FILE, Policy, load_policy, policy_file
from .registry import CATALOGUE, Rule, resolve_id
from .suppress import ANNOTATION, Suppression

__all__ = [
    "CATALOGUE", "Rule", "Policy", "Evaluation", "ViewRules", "AcrossRules", "Context", "Suppression", "ANNOTATION",
    "POLICY_FILE", "evaluate", "check_view", "check_across", "with_counts", "view_of", "all_envs", "load_policy",
    "policy_file", "resolve_id", "rules_markdown",
]
