"""The `admission/` folder of a config repository: ValidatingAdmissionPolicies, their bindings and their params,
exactly as applied to the clusters, evaluated against one environment's rendered resources.

Every `*.yaml`/`*.yml` file under `admission/` is read with the safe loader. A document is a
`ValidatingAdmissionPolicy` or a `ValidatingAdmissionPolicyBinding` (`admissionregistration.k8s.io/v1`), or a
params object (any other kind, e.g. a ConfigMap a binding's `paramRef` names). A binding applies to every
environment unless its annotation `phoenix-gitops/environments` lists some (`"staging, prod"`).

Each resource is judged as the API server judges its creation: the policy's `matchConstraints` and the binding's
`matchResources` (`resourceRules` and `excludeResourceRules` by API group, version, resource, operation,
scope and names; `namespaceSelector` against the labels of the environment's rendered Namespaces, which also get
the label `kubernetes.io/metadata.name` the API server adds; `objectSelector`), then `matchConditions`, the params
(`paramKind` + `paramRef`: by name or selector, in `paramRef.namespace` or the resource's own namespace, from
`admission/` and the environment's rendered resources; none found: `parameterNotFoundAction`), `variables`, and
every validation. The variables are `object`, `oldObject` (null), `request` (operation CREATE), `params`,
`namespaceObject` and `variables`; `authorizer` does not exist at pull-request time (a compile error).

A result is a failed validation (with its `message`, `messageExpression` or the expression itself, and `reason`),
a validation or match condition that could not be evaluated (its `failurePolicy` decides: Fail reports it with the
binding's action, Ignore as a warning, since the cluster then lets the resource through unchecked), an expression
stopped by the cost limit (always an error), or missing params. Its `action` is the strongest of the binding's
`validationActions` (Deny, Warn, Audit).

Usage:
    admission = load(repo_root)              # Admission: policies, bindings, params, problems (file:line)
    for result in admission.evaluate("prod", resources, namespaces):
        result.policy, result.index, result.path, result.message, result.action
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..yamlio import Document, YamlError, load_file
from .cel import CelError, CostError, EvalError, Program, compile_expression, sizes

__all__ = ["files", "FOLDER", "ENVIRONMENTS_ANNOTATION", "API_VERSION", "Admission", "Policy", "Binding", "Problem",
           "Result", "load", "resource_of", "VARIABLES"]

FOLDER = "admission"
"""The folder of a config repository that holds the policies, bindings and params."""
API_VERSION = "admissionregistration.k8s.io/v1"
ENVIRONMENTS_ANNOTATION = "phoenix-gitops/environments"
"""On a binding: the environments it applies to (comma-separated); without it, every environment."""
VARIABLES = ("object", "oldObject", "request", "params", "namespaceObject", "variables")
"""What the expressions of a policy may read."""
NAME_LABEL = "kubernetes.io/metadata.name"
ACTIONS = ("Deny", "Warn", "Audit")
_POLICY_KEYS = {"failurePolicy", "paramKind", "matchConstraints", "matchConditions", "variables", "validations",
                "auditAnnotations"}
_BINDING_KEYS = {"policyName", "paramRef", "matchResources", "validationActions"}
_MATCH_KEYS = {"resourceRules", "excludeResourceRules", "namespaceSelector", "objectSelector", "matchPolicy"}
_RULE_KEYS = {"apiGroups", "apiVersions", "resources", "operations", "scope", "resourceNames"}
_OBJECT_PATH = re.compile(r"\bobject((?:\s*\.\??\s*[A-Za-z_][A-Za-z0-9_]*)+)(\s*\()?")
_VARIABLE_PATH = re.compile(
    r"\bvariables\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)((?:\s*\.\??\s*[A-Za-z_][A-Za-z0-9_]*)*)(\s*\()?")
_VARIABLE_USE = re.compile(r"\bvariables\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """Something wrong with a file of `admission/`, at its line; `policy` names the policy it is about, if any."""

    path: str
    line: int | None
    col: int | None
    message: str
    policy: str | None = None


@dataclass(frozen=True)
class Expression:
    """A compiled expression and where it is written (the line of its key)."""

    name: str
    """`validations[0]`, `variables.containers`, `matchConditions.is-web`..."""
    program: Program
    source: str
    line: int
    col: int


@dataclass
class Policy:
    """A ValidatingAdmissionPolicy that loaded and compiled."""

    name: str
    path: str
    line: int
    failure_policy: str
    param_kind: tuple[str, str] | None
    match: dict[str, Any]
    conditions: list[Expression]
    variables: list[Expression]
    validations: list[tuple[Expression, dict[str, Any], Expression | None]]
    """(expression, the validation as written, its compiled messageExpression)."""


@dataclass
class Binding:
    """A ValidatingAdmissionPolicyBinding whose policy exists."""

    name: str
    path: str
    line: int
    policy: str
    actions: tuple[str, ...]
    match: dict[str, Any] | None
    param_ref: dict[str, Any] | None
    environments: tuple[str, ...] | None


@dataclass(frozen=True)
class Result:
    """One finding of a policy on one resource (`resource` is the caller's handle for it)."""

    policy: str
    binding: str
    resource: Any
    path: JsonPath
    message: str
    action: str
    """`Deny`, `Warn` or `Audit`: the binding's strongest action (Deny for a cost-limit stop), or `Warn` for an
    error the cluster ignores (failurePolicy: Ignore)."""


@dataclass
class Admission:
    """Everything `admission/` holds, loaded and compiled."""

    files: list[str] = field(default_factory=list)
    policies: dict[str, Policy] = field(default_factory=dict)
    bindings: list[Binding] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def evaluate(self, env: str, resources: Sequence[tuple[dict[str, Any], Any]],
                 extra_params: Iterable[dict[str, Any]] = ()) -> Iterator[Result]:
        """Every result of the bindings that apply to `env` on `resources` ((data, handle) pairs: the
        environment's rendered resources, Namespaces included)."""
        namespaces = {str(_meta(d).get("name")): d for d, _ in resources if d.get("kind") == "Namespace"}
        params: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
        for param in (*self.params, *extra_params):
            params.setdefault((param.get("apiVersion"), param.get("kind")), []).append(param)
        memo: dict[int, tuple[int, int]] = {}
        """Sizes of the resources, params and Namespaces, all alive for the whole evaluation (ids stay theirs)."""
        for binding in self.bindings:
            if binding.environments is not None and env not in binding.environments:
                continue
            policy = self.policies.get(binding.policy)
            if policy is None:
                continue
            for data, handle in resources:
                yield from _judge(policy, binding, data, handle, namespaces, params, memo)


def load(repo_root: Path, known_envs: Sequence[str] | None = None) -> Admission:
    """The `admission/` folder of the repository at `repo_root` (empty when there is none)."""
    admission = Admission()
    docs: list[Document] = []
    for rel in files(repo_root):
        path = repo_root / rel
        admission.files.append(rel)
        try:
            docs += load_file(path, name=rel)
        except YamlError as err:
            admission.problems.append(Problem(rel, err.line, err.col, f"{err.rule}: {err.detail}"))
    bindings: list[tuple[Document, dict[str, Any]]] = []
    for doc in docs:
        data = doc.data
        if not isinstance(data, dict):
            admission.problems.append(Problem(doc.source, *doc.position(()), "expected a Kubernetes object"))
            continue
        kind, api = data.get("kind"), data.get("apiVersion")
        if kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding") and api != API_VERSION:
            admission.problems.append(Problem(doc.source, *doc.position(("apiVersion",)),
                                              f"{kind} must use apiVersion {API_VERSION} (got {api!r})"))
        elif kind == "ValidatingAdmissionPolicy":
            _load_policy(doc, admission)
        elif kind == "ValidatingAdmissionPolicyBinding":
            bindings.append((doc, data))
        elif isinstance(kind, str) and isinstance(api, str) and isinstance(_meta(data).get("name"), str):
            admission.params.append(data)
        else:
            admission.problems.append(Problem(doc.source, *doc.position(()),
                                              "expected a Kubernetes object with apiVersion, kind and metadata.name"))
    for doc, data in bindings:
        _load_binding(doc, data, admission, known_envs)
    return admission


def files(repo_root: Path) -> list[str]:
    """The YAML files of `admission/`, relative to the repository root, sorted."""
    folder = repo_root / FOLDER
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(repo_root).as_posix() for p in folder.rglob("*")
                  if p.suffix in (".yaml", ".yml") and p.is_file())


# --- loading -------------------------------------------------------------------------------------------------


class _Invalid(Exception):
    """A problem at `path` of a document (or at line `at` of its file, inside a multi-line expression)."""

    def __init__(self, path: JsonPath, message: str, at: int | None = None) -> None:
        super().__init__(message)
        self.path, self.message, self.at = path, message, at


def _meta(data: Any) -> dict[str, Any]:
    meta = data.get("metadata") if isinstance(data, dict) else None
    return meta if isinstance(meta, dict) else {}


def _name(data: dict[str, Any]) -> str:
    name = _meta(data).get("name")
    if not isinstance(name, str) or not name:
        raise _Invalid(("metadata",), "metadata.name is required")
    return name


def _spec(data: dict[str, Any], known: set[str]) -> dict[str, Any]:
    spec = data.get("spec")
    if not isinstance(spec, dict):
        raise _Invalid(("spec",) if "spec" in data else (), "spec must be a mapping")
    for key in spec:
        if key not in known:
            raise _Invalid(("spec", key), f"unknown field spec.{key} (known: {', '.join(sorted(known))})")
    return spec


def _list(value: Any, path: JsonPath) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Invalid(path, "expected a list")
    return value


def _check_match(match: Any, path: JsonPath, required: bool) -> dict[str, Any]:
    if match is None and not required:
        return {}
    if not isinstance(match, dict):
        raise _Invalid(path, "expected a mapping with resourceRules")
    for key in match:
        if key not in _MATCH_KEYS:
            raise _Invalid(path + (key,), f"unknown field {key} (known: {', '.join(sorted(_MATCH_KEYS))})")
    if required and not match.get("resourceRules"):
        raise _Invalid(path, "matchConstraints.resourceRules is required")
    for key in ("resourceRules", "excludeResourceRules"):
        for index, entry in enumerate(_list(match.get(key), path + (key,))):
            if not isinstance(entry, dict):
                raise _Invalid(path + (key, index), "expected a rule mapping")
            for name in entry:
                if name not in _RULE_KEYS:
                    raise _Invalid(path + (key, index, name), f"unknown field {name}")
            for name in ("apiGroups", "apiVersions", "resources", "operations", "resourceNames"):
                values = entry.get(name)
                if values is not None and not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
                    raise _Invalid(path + (key, index, name), "expected a list of strings")
    for key in ("namespaceSelector", "objectSelector"):
        if key in match:
            _check_selector(match[key], path + (key,))
    return match


def _check_selector(selector: Any, path: JsonPath) -> None:
    if not isinstance(selector, dict):
        raise _Invalid(path, "a label selector must be a mapping")
    labels = selector.get("matchLabels", {})
    if not isinstance(labels, dict):
        raise _Invalid(path + ("matchLabels",), "expected a mapping of labels")
    for index, term in enumerate(_list(selector.get("matchExpressions"), path + ("matchExpressions",))):
        if not isinstance(term, dict) or term.get("operator") not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise _Invalid(path + ("matchExpressions", index),
                           "expected {key, operator: In|NotIn|Exists|DoesNotExist, values}")


def _compile(doc: Document, path: JsonPath, name: str, source: Any) -> Expression:
    line, col = doc.position(path)
    if not isinstance(source, str):
        raise _Invalid(path, "the expression must be a string")
    try:
        program = compile_expression(source, VARIABLES)
    except CelError as err:
        # The key's line; an expression written over several lines (`|`) starts on the next one.
        at = line + min(err.line, source.rstrip("\n").count("\n") + 1) if "\n" in source else line
        raise _Invalid(path, f"{name} does not compile: {err.message} (line {err.line}, column {err.col} of the "
                             "expression)", at=at) from None
    return Expression(name, program, source, line, col)


def _load_policy(doc: Document, admission: Admission) -> None:
    data = doc.data
    name = _meta(data).get("name") if isinstance(_meta(data).get("name"), str) else None
    try:
        name = _name(data)
        spec = _spec(data, _POLICY_KEYS)
        failure = spec.get("failurePolicy", "Fail")
        if failure not in ("Fail", "Ignore"):
            raise _Invalid(("spec", "failurePolicy"), "failurePolicy must be Fail or Ignore")
        kind = spec.get("paramKind")
        param_kind = None
        if kind is not None:
            if not (isinstance(kind, dict) and isinstance(kind.get("apiVersion"), str)
                    and isinstance(kind.get("kind"), str)):
                raise _Invalid(("spec", "paramKind"), "paramKind needs apiVersion and kind")
            param_kind = (kind["apiVersion"], kind["kind"])
        match = _check_match(spec.get("matchConstraints"), ("spec", "matchConstraints"), required=True)
        conditions = [_named(doc, ("spec", "matchConditions", i), entry, "matchConditions")
                      for i, entry in enumerate(_list(spec.get("matchConditions"), ("spec", "matchConditions")))]
        variables = [_named(doc, ("spec", "variables", i), entry, "variables")
                     for i, entry in enumerate(_list(spec.get("variables"), ("spec", "variables")))]
        validations = []
        for i, entry in enumerate(_list(spec.get("validations"), ("spec", "validations"))):
            at: JsonPath = ("spec", "validations", i)
            if not isinstance(entry, dict) or "expression" not in entry:
                raise _Invalid(at, "a validation needs an expression")
            for key in entry:
                if key not in ("expression", "message", "messageExpression", "reason"):
                    raise _Invalid(at + (key,), f"unknown field {key}")
            message = (_compile(doc, at + ("messageExpression",), f"validations[{i}].messageExpression",
                                entry["messageExpression"]) if "messageExpression" in entry else None)
            validations.append((_compile(doc, at + ("expression",), f"validations[{i}]", entry["expression"]),
                                entry, message))
        for i, entry in enumerate(_list(spec.get("auditAnnotations"), ("spec", "auditAnnotations"))):
            if isinstance(entry, dict) and "valueExpression" in entry:  # compiled for its errors; no decision
                _compile(doc, ("spec", "auditAnnotations", i, "valueExpression"), f"auditAnnotations[{i}]",
                         entry["valueExpression"])
        if not validations and not spec.get("auditAnnotations"):
            raise _Invalid(("spec",), "a policy needs validations (or auditAnnotations)")
        if name in admission.policies:
            raise _Invalid(("metadata", "name"), f"policy {name} is defined twice "
                                                 f"(also in {admission.policies[name].path})")
    except _Invalid as err:
        admission.problems.append(_problem(doc, err, name))
        return
    admission.policies[name] = Policy(name, doc.source, doc.position(())[0], failure, param_kind, match, conditions,
                                      variables, validations)


def _named(doc: Document, path: JsonPath, entry: Any, what: str) -> Expression:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or "expression" not in entry:
        raise _Invalid(path, f"each of {what} needs a name and an expression")
    return _compile(doc, path + ("expression",), f"{what}.{entry['name']}", entry["expression"])


def _load_binding(doc: Document, data: dict[str, Any], admission: Admission,
                  known_envs: Sequence[str] | None) -> None:
    try:
        name = _name(data)
        spec = _spec(data, _BINDING_KEYS)
        policy = spec.get("policyName")
        if not isinstance(policy, str) or not policy:
            raise _Invalid(("spec", "policyName") if "policyName" in spec else ("spec",), "policyName is required")
        if policy not in admission.policies:
            if any(p.policy == policy for p in admission.problems):
                return  # the policy itself is reported
            raise _Invalid(("spec", "policyName"), f"no ValidatingAdmissionPolicy {policy} in {FOLDER}/")
        actions = spec.get("validationActions")
        if not (isinstance(actions, list) and actions and all(a in ACTIONS for a in actions)):
            raise _Invalid(("spec", "validationActions"), "validationActions must list Deny, Warn and/or Audit")
        if "Deny" in actions and "Warn" in actions:
            raise _Invalid(("spec", "validationActions"), "Deny and Warn may not be used together")
        match = _check_match(spec.get("matchResources"), ("spec", "matchResources"), required=False) or None
        ref = spec.get("paramRef")
        if admission.policies[policy].param_kind is not None:
            if not isinstance(ref, dict):
                raise _Invalid(("spec",), f"policy {policy} has a paramKind: the binding needs a paramRef")
            if ("name" in ref) == ("selector" in ref):
                raise _Invalid(("spec", "paramRef"), "paramRef needs exactly one of name and selector")
            if ref.get("parameterNotFoundAction") not in ("Allow", "Deny"):
                raise _Invalid(("spec", "paramRef"), "paramRef.parameterNotFoundAction must be Allow or Deny")
            if "selector" in ref:
                _check_selector(ref["selector"], ("spec", "paramRef", "selector"))
        elif ref is not None:
            raise _Invalid(("spec", "paramRef"), f"policy {policy} has no paramKind: a paramRef is not allowed")
        environments = _environments(data, known_envs)
    except _Invalid as err:
        admission.problems.append(_problem(doc, err, None))
        return
    admission.bindings.append(Binding(name, doc.source, doc.position(())[0], policy, tuple(actions), match, ref,
                                      environments))


def _environments(data: dict[str, Any], known_envs: Sequence[str] | None) -> tuple[str, ...] | None:
    value = (_meta(data).get("annotations") or {}).get(ENVIRONMENTS_ANNOTATION)
    if value is None:
        return None
    at: JsonPath = ("metadata", "annotations", ENVIRONMENTS_ANNOTATION)
    names = tuple(n.strip() for n in str(value).split(",") if n.strip())
    if not names:
        raise _Invalid(at, f"{ENVIRONMENTS_ANNOTATION} names no environment")
    unknown = [n for n in names if known_envs is not None and n not in known_envs]
    if unknown:
        raise _Invalid(at, f"{ENVIRONMENTS_ANNOTATION} names unknown environment(s) {', '.join(unknown)} "
                           f"(known: {', '.join(known_envs or ())})")
    return names


def _problem(doc: Document, err: _Invalid, policy: str | None) -> Problem:
    line, col = doc.position(err.path)
    at = err.at
    kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
    name = _meta(doc.data).get("name")
    about = f"{kind} {name}: " if isinstance(name, str) else f"{kind}: "
    return Problem(doc.source, at or line, col, about + err.message, policy)


# --- matching ----------------------------------------------------------------------------------------------


def resource_of(kind: str) -> str:
    """The resource (plural, lower case) of `kind`, as Kubernetes names the built-in ones and the bundled CRDs."""
    name = kind.lower()
    if name.endswith("endpoints"):
        return name
    if name.endswith(("s", "x", "ch", "sh")):
        return name + "es"
    if name.endswith("y") and len(name) > 1 and name[-2] not in "aeiou":
        return name[:-1] + "ies"
    return name + "s"


def _group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _rule_matches(rule: dict[str, Any], data: dict[str, Any]) -> bool:
    group, version = _group_version(str(data.get("apiVersion", "")))
    resource = resource_of(str(data.get("kind", "")))
    namespaced = isinstance(_meta(data).get("namespace"), str)

    def listed(key: str, value: str, default: Sequence[str] = ("*",)) -> bool:
        values = rule.get(key) or default
        return "*" in values or value in values

    resources = rule.get("resources") or []
    operations = rule.get("operations") or ["*"]
    scope = rule.get("scope", "*")
    names = rule.get("resourceNames") or []
    return (listed("apiGroups", group, ()) and listed("apiVersions", version, ())
            and any(r in ("*", "*/*", resource) for r in resources)
            and any(o in ("*", "CREATE", "UPDATE") for o in operations)
            and (scope == "*" or scope == ("Namespaced" if namespaced else "Cluster"))
            and (not names or str(_meta(data).get("name")) in names))


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, Any]) -> bool:
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for term in selector.get("matchExpressions") or []:
        key, operator, values = term.get("key"), term.get("operator"), term.get("values") or []
        present = key in labels
        if (operator == "In" and not (present and labels[key] in values)
                or operator == "NotIn" and present and labels[key] in values
                or operator == "Exists" and not present or operator == "DoesNotExist" and present):
            return False
    return True


def _labels(data: Any) -> dict[str, Any]:
    labels = _meta(data).get("labels")
    return labels if isinstance(labels, dict) else {}


def _matches(match: Mapping[str, Any], data: dict[str, Any], namespaces: Mapping[str, dict[str, Any]]) -> bool:
    rules = match.get("resourceRules")
    if rules and not any(_rule_matches(r, data) for r in rules):  # (a binding without them takes the policy's)
        return False
    if any(_rule_matches(r, data) for r in match.get("excludeResourceRules") or []):
        return False
    if "namespaceSelector" in match:
        if data.get("kind") == "Namespace":
            labels: dict[str, Any] | None = {**_labels(data), NAME_LABEL: _meta(data).get("name")}
        elif isinstance(_meta(data).get("namespace"), str):
            namespace = _meta(data)["namespace"]
            labels = {**_labels(namespaces.get(namespace)), NAME_LABEL: namespace}
        else:
            labels = None  # a cluster-scoped resource: the namespace selector does not apply
        if labels is not None and not _selects(match["namespaceSelector"], labels):
            return False
    return _selects(match.get("objectSelector"), _labels(data))


# --- evaluating --------------------------------------------------------------------------------------------


def _request(data: dict[str, Any]) -> dict[str, Any]:
    group, version = _group_version(str(data.get("apiVersion", "")))
    kind = str(data.get("kind", ""))
    return {"kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": resource_of(kind)},
            "requestKind": {"group": group, "version": version, "kind": kind},
            "requestResource": {"group": group, "version": version, "resource": resource_of(kind)},
            "name": _meta(data).get("name", ""), "namespace": _meta(data).get("namespace", ""),
            "operation": "CREATE", "userInfo": {"username": "", "groups": []}, "dryRun": False, "options": {}}


def _params_for(binding: Binding, policy: Policy, data: dict[str, Any],
                params: Mapping[tuple[Any, Any], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    assert policy.param_kind is not None and binding.param_ref is not None
    ref = binding.param_ref
    of_kind = params.get(policy.param_kind, [])
    namespace = ref.get("namespace")
    if namespace is None and any(isinstance(_meta(p).get("namespace"), str) for p in of_kind):
        namespace = _meta(data).get("namespace")  # a namespaced paramKind: the resource's own namespace
    if namespace is not None:
        of_kind = [p for p in of_kind if _meta(p).get("namespace") == namespace]
    if "name" in ref:
        return [p for p in of_kind if _meta(p).get("name") == ref["name"]]
    return [p for p in of_kind if _selects(ref.get("selector") or {}, _labels(p))]


def _param_name(param: Any) -> str:
    """`namespace/name` (or `name`) of a params object, whatever shape its metadata has."""
    namespace, name = _meta(param).get("namespace"), _meta(param).get("name")
    return f"{namespace}/{name}" if namespace else str(name)


def _strongest(actions: Sequence[str]) -> str:
    return next(a for a in ACTIONS if a in actions)


def _judge(policy: Policy, binding: Binding, data: dict[str, Any], handle: Any,
           namespaces: Mapping[str, dict[str, Any]], params: Mapping[tuple[Any, Any], list[dict[str, Any]]],
           memo: dict[int, tuple[int, int]]) -> Iterator[Result]:
    if not _matches(policy.match, data, namespaces):
        return
    if binding.match is not None and not _matches(binding.match, data, namespaces):
        return
    action = _strongest(binding.actions)

    def result(path: JsonPath, message: str, error: bool = False, stopped: bool = False) -> Result:
        chosen = "Deny" if stopped else ("Warn" if error and policy.failure_policy == "Ignore" else action)
        if error and policy.failure_policy == "Ignore" and not stopped:
            message = f"{message}; the cluster ignores the error (failurePolicy: Ignore), so the policy checks nothing"
        return Result(policy.name, binding.name, handle, path, f"{message} [binding {binding.name}]", chosen)

    candidates: list[dict[str, Any] | None] = [None]
    if policy.param_kind is not None:
        candidates = list(_params_for(binding, policy, data, params))
        if not candidates:
            if (binding.param_ref or {}).get("parameterNotFoundAction") == "Deny":
                kind = f"{policy.param_kind[1]} ({policy.param_kind[0]})"
                yield result((), f"no params found: no {kind} matches the binding's paramRef "
                                 f"(parameterNotFoundAction: Deny)")
            return
    namespace = _meta(data).get("namespace")
    base = {"object": data, "oldObject": None, "request": _request(data),
            "namespaceObject": namespaces.get(namespace) if isinstance(namespace, str) else None}
    fixed = _bounds([data, base["namespaceObject"]], memo)
    for param in candidates:
        values: dict[str, Any] = {**base, "params": param, "variables": {}}
        about = f" (params {_param_name(param)})" if param is not None else ""
        given = _bounds([param], memo, fixed, base["request"])
        bounds = given
        # matchConditions: all must be true; an error follows failurePolicy
        skip = False
        for condition in policy.conditions:
            try:
                if condition.program.run(values, bounds=bounds) is not True:
                    skip = True
                    break
            except EvalError as err:
                yield result((), f"{condition.name} could not be evaluated: {err}{about}", error=True,
                             stopped=isinstance(err, CostError))
                skip = True
                break
        if skip:
            continue
        failed: dict[str, str] = {}
        for variable in policy.variables:
            name = variable.name.split(".", 1)[1]
            try:
                values["variables"] = {**values["variables"], name: variable.program.run(values, bounds=bounds)}
            except EvalError as err:
                failed[name] = f"{variable.name} could not be evaluated: {err}"
                if isinstance(err, CostError):
                    yield result((), failed[name] + about, stopped=True)
            else:  # (the value's sizes as the estimate bounds them: no walk of a value built from the input)
                grown = variable.program.result_sizes(*bounds)
                bounds = (max(bounds[0], grown[0]), max(bounds[1], grown[1]))
        for expression, written, message_program in policy.validations:
            broken = [failed[n] for n in _VARIABLE_USE.findall(expression.source) if n in failed]
            if broken:
                yield result(_field_of(expression.source, policy, data), f"{expression.name}: {broken[0]}{about}",
                             error=True)
                continue
            try:
                outcome = expression.program.run(values, bounds=bounds)
            except EvalError as err:
                yield result(_field_of(expression.source, policy, data),
                             f"{expression.name} could not be evaluated: {err}{about}", error=True,
                             stopped=isinstance(err, CostError))
                continue
            if outcome is True:
                continue
            path = _field_of(expression.source, policy, data)
            if outcome is not False:
                yield result(path, f"{expression.name} does not return a bool{about}", error=True)
                continue
            yield result(path, _message(expression, written, message_program, values, bounds) + about)


def _bounds(kept: Iterable[Any], memo: dict[int, tuple[int, int]], start: tuple[int, int] = (0, 0),
            fresh: Any = None) -> tuple[int, int]:
    """The sizes of `kept` (values that live through the evaluation, memoised) and `fresh` (not), from `start`."""
    length, text = start
    for value, sized in [*((v, sizes(v, memo)) for v in kept), (fresh, sizes(fresh))]:
        del value
        length, text = max(length, sized[0]), max(text, sized[1])
    return length, text


def _message(expression: Expression, written: dict[str, Any], message_program: Expression | None,
             values: Mapping[str, Any], bounds: tuple[int, int]) -> str:
    text = None
    if message_program is not None:
        try:
            found = message_program.program.run(values, bounds=bounds)
            text = found.strip() if isinstance(found, str) and found.strip() else None
        except EvalError:
            text = None
    if text is None and isinstance(written.get("message"), str) and written["message"].strip():
        text = written["message"].strip()
    if text is None:
        text = f"failed expression: {' '.join(expression.source.split())}"
    reason = written.get("reason")
    return f"{text} ({reason})" if isinstance(reason, str) and reason else text


def _field_of(source: str, policy: Policy, data: dict[str, Any]) -> JsonPath:
    """The deepest field of `object` the expression names, directly or through a variable it reads, as far as
    the resource has it (() when it names none)."""
    best: JsonPath = ()
    for names in _paths(source, policy, 0):
        path: list[str | int] = []
        value: Any = data
        for name in names:
            if not isinstance(value, dict) or name not in value:
                break
            path.append(name)
            value = value[name]
        if len(path) > len(best):
            best = tuple(path)
    return best


def _paths(source: str, policy: Policy, depth: int) -> Iterator[list[str]]:
    """The field paths (names after `object.`) that `source` reads, with `variables.x...` replaced by the paths of
    variable x's expression."""
    for found in _OBJECT_PATH.finditer(source):
        yield _names(found)
    if depth > 8:
        return
    for found in _VARIABLE_PATH.finditer(source):
        variable = next((v for v in policy.variables if v.name == f"variables.{found.group(1)}"), None)
        if variable is None:
            continue
        tail = _names(found, 2)
        for names in _paths(variable.source, policy, depth + 1):
            yield names + tail


def _names(found: re.Match[str], group: int = 1) -> list[str]:
    names = [n.strip(" ?") for n in (found.group(group) or "").split(".") if n.strip(" ?")]
    return names[:-1] if found.group(group + 1) else names  # the last name is a method called on the field
