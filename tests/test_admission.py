"""admission: the CEL runtime with Kubernetes' libraries and its cost limit, the CRD rules, and the loading and
matching of ValidatingAdmissionPolicies (the whole check through the program: test_admission_cli.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT

from phoenix_gitops import crds
from phoenix_gitops.admission import cel, crd_rules, policies

# --- cel ---------------------------------------------------------------------------------------------------


def run(expression: str, value: Any = None) -> Any:
    return cel.compile_expression(expression, ("self",)).run({"self": value})


@pytest.mark.parametrize(("expression", "expected"), [
    ("quantity('1Gi').isGreaterThan(quantity('500Mi'))", True),
    ("quantity('1500m').asApproximateFloat()", 1.5),
    ("quantity('2').add(quantity('500m')).compareTo(quantity('2500m'))", 0),
    ("quantity('1k').asInteger()", 1000),
    ("isQuantity('12x')", False),
    ("quantity('1') == quantity('1000m')", True),
    ("url('https://example.com:8443/a?b=c&b=d').getQuery()", {"b": ["c", "d"]}),
    ("url('https://example.com:8443/a').getHostname() + ':' + url('https://example.com:8443/a').getPort()",
     "example.com:8443"),
    ("isURL('not a url')", False),
    ("ip('10.0.0.1').family() == 4 && ip('::1').isLoopback() && string(ip('::1')) == '::1'", True),
    ("cidr('10.0.0.0/8').containsIP(ip('10.1.2.3')) && !cidr('10.0.0.0/8').containsIP('11.0.0.1')", True),
    ("cidr('10.1.2.3/8').masked() == cidr('10.0.0.0/8') && cidr('10.0.0.0/8').prefixLength() == 8", True),
    ("isIP('::ffff:10.0.0.1')", False),
    ("semver('1.2.3').isLessThan(semver('1.10.0')) && semver('1.0.0-rc.1').isLessThan(semver('1.0.0'))", True),
    ("[1, 2, 3].isSorted() && [1, 2].sum() == 3 && [3, 1].min() == 1 && [3, 1].max() == 3", True),
    ("'abc123def45'.find('[0-9]+') + ':' + 'abc123def45'.findAll('[0-9]+').join(',')", "123:123,45"),
    ("'a,b'.split(',').map(s, s.upperAscii())", ["A", "B"]),
    ("self.?missing.orValue('none')", "none"),
    ("self.all(i, v, v > i)", True),
    ("cel.bind(n, self.size(), n * n)", 9),
])
def test_kubernetes_libraries(expression, expected):
    value = [1, 2, 3] if "self.all" in expression or "self.size" in expression else {}
    assert run(expression, value) == expected


@pytest.mark.parametrize(("expression", "line", "col", "text"), [
    ("self.size() >", 1, 14, "Syntax error"),
    ("nosuch(self)", 1, 7, "undeclared reference to 'nosuch'"),
    ("self.all(x,\n  x.isQuantity())", 2, 15, "undeclared reference to 'isQuantity'"),
    ("authorizer.group('apps').check('get')", 1, 1, "not available at pull-request time"),
    ("[1].indexOf(1)", 1, 12, "indexOf/lastIndexOf of the Kubernetes list library are not available"),
])
def test_a_missing_function_or_a_syntax_error_is_refused_at_its_position(expression, line, col, text):
    with pytest.raises(cel.CelError) as caught:
        cel.compile_expression(expression, ("self",))
    assert (caught.value.line, caught.value.col) == (line, col) and text in caught.value.message


def test_run_time_errors_are_eval_errors_with_the_runtime_s_message():
    with pytest.raises(cel.EvalError, match='Key not found in map : "nope"'):
        run("self.nope == 1", {})
    with pytest.raises(cel.EvalError, match="quantities must match"):
        run("quantity('12x').sign()")
    with pytest.raises(cel.EvalError, match="min/max of an empty list"):
        run("self.min()", [])


def test_a_runaway_expression_is_refused_before_it_runs():
    nested = "self.map(a, self.map(b, self.map(c, self.map(d, a + b + c + d))))"
    with pytest.raises(cel.CostError, match=r"estimated cost [\d,]+ is over the limit of 10,000,000 on this input "
                                            r"\(lists of up to 100 items"):
        run(nested, list(range(100)))
    assert run(nested, [1, 2]) is not None  # the same expression on a small input runs
    with pytest.raises(cel.CostError, match="unbounded"):
        cel.compile_expression("lists.range(self).size() > 0", ("self",)).run({"self": 5})
    doubling = "cel.bind(a, self + self, cel.bind(b, a + a, cel.bind(c, b + b, c + c)))"
    assert cel.compile_expression(doubling, ("self",)).cost(0, 1000) > cel.compile_expression(
        doubling, ("self",)).cost(0, 10)


def test_the_bundled_rules_stay_under_the_limit_on_the_largest_inputs_their_crds_allow():
    gateway = cel.compile_expression("self.all(l1, self.exists_one(l2, l1.name == l2.name))", ("self",))
    assert gateway.cost(64, 253) < cel.COST_LIMIT  # listeners: maxItems 64, hostnames up to 253 characters


def test_sizes_are_the_longest_list_or_map_and_the_longest_string():
    memo: dict[int, tuple[int, int]] = {}
    value = {"a": [1, 2, 3], "bb": {"c": "x" * 10}}
    assert cel.sizes(value, memo) == (3, 10)
    assert memo[id(value["a"])] == (3, 0)


# --- crd_rules -----------------------------------------------------------------------------------------------


def test_every_cel_rule_of_every_bundled_crd_compiles():
    found = list(crd_rules.bundled_rules())
    assert len(found) >= 150
    by_file: dict[str, int] = {}
    for name, path, entry in found:
        rule = crd_rules.CrdRule.of(entry)  # raises CelError for one that does not compile
        assert rule.transition or rule.program is not None, (name, path)
        by_file[name] = by_file.get(name, 0) + 1
    for kind in ("httproute_v1", "gateway_v1", "secretstore_v1", "clustersecretstore_v1", "kustomization_v1",
                 "gitrepository_v1"):
        assert any(kind in name for name in by_file), kind


def route(backend: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "web"},
            "spec": {"parentRefs": [{"name": "public", "namespace": "gateway-system"}],
                     "rules": [{"backendRefs": [backend]}]}}


def test_rules_see_defaults_and_report_at_the_field():
    schema = crd_rules.CrdSchema.find("gateway.networking.k8s.io/v1", "HTTPRoute")
    assert schema is not None
    # `group` ("") and `kind` ("Service") are defaults the API server fills in before the rule reads them
    outcome = schema.check(route({"name": "web"}))
    assert [(p.path, p.message) for p in outcome.problems] == [
        (("spec", "rules", 0, "backendRefs", 0), "Must have port for Service reference")]
    assert schema.check(route({"name": "web", "port": 80})).problems == []
    assert schema.check(route({"name": "other", "kind": "Backend", "group": "example.com"})).problems == []
    assert crd_rules.CrdSchema.find("v1", "ConfigMap") is None


def widget_schema(rules: list[dict[str, Any]]) -> crd_rules.CrdSchema:
    spec = {"type": "object", "properties": {"size": {"type": "integer"}, "namespace": {"type": "string"},
                                              "mode": {"type": "string", "default": "fast"},
                                              "labels": {"type": "object",
                                                         "additionalProperties": {"type": "string"}}},
            crd_rules.RULES_KEY: rules}
    return crd_rules.CrdSchema({"type": "object", "properties": {"spec": spec}})


def test_message_expression_field_path_reason_escaping_and_transition_rules():
    schema = widget_schema([
        {"rule": "self.size <= 10", "messageExpression": "'size ' + string(self.size) + ' is over 10'",
         "fieldPath": ".size", "reason": "FieldValueInvalid"},
        {"rule": "self.__namespace__ != 'kube-system' && self.mode == 'fast'", "message": "no kube-system"},
        {"rule": "self.labels.all(k, k.startsWith('app.'))"},
        {"rule": "self.size >= oldSelf.size", "message": "size may only grow"},
    ])
    outcome = schema.check({"spec": {"size": 12, "namespace": "kube-system", "labels": {"team": "x"}}})
    assert [(p.path, p.message) for p in outcome.problems] == [
        (("spec", "size"), "size 12 is over 10 (FieldValueInvalid)"),
        (("spec",), "no kube-system"),
        (("spec",), "failed rule: self.labels.all(k, k.startsWith('app.'))"),
    ]
    assert (outcome.evaluated, outcome.transition) == (3, 1)


def test_a_rule_that_cannot_be_evaluated_or_compiled_is_a_problem_not_a_pass():
    outcome = widget_schema([{"rule": "self.missing > 1"}, {"rule": "self.size >"}]).check({"spec": {"size": 1}})
    assert [p.evaluated for p in outcome.problems] == [False, False]
    assert "the rule could not be evaluated: " in outcome.problems[0].message
    assert "the CRD's rule does not compile: Syntax error" in outcome.problems[1].message


@pytest.mark.parametrize(("name", "escaped"), [
    ("namespace", "__namespace__"), ("a-b", "a__dash__b"), ("a.b/c", "a__dot__b__slash__c"),
    ("x__y", "x__underscores__y"), ("plain", "plain"), ("1abc", None),
])
def test_property_names_are_escaped_as_kubernetes_escapes_them(name, escaped):
    assert crd_rules.escape(name) == escaped


def test_field_paths():
    assert crd_rules.field_path(".spec.ports['http'][0]") == ("spec", "ports", "http", 0)
    assert crd_rules.field_path("spec") is None


def test_the_generated_schemas_keep_the_rules_under_a_key_json_schema_ignores():
    files = crds.generate(PROJECT / "tests" / "fixtures" / "crds")
    widget = json.loads(files["fixtures.example.com_widget_v1.json"])
    assert widget["properties"]["spec"][crd_rules.RULES_KEY] == [{"rule": "self.size <= 10", "message": "too big"}]


# --- policies ------------------------------------------------------------------------------------------------


POLICY = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: {name}
spec:
  matchConstraints:
    resourceRules:
      - {{apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}}
    excludeResourceRules:
      - {{apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments],
          resourceNames: [excluded]}}
    objectSelector:
      matchExpressions: [{{key: tier, operator: NotIn, values: [system]}}]
  validations:
    - expression: |
        {expression}
      message: replicas over two
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: {name}
spec:
  policyName: {name}
  validationActions: [Audit, Warn]
"""


def admission_repo(tmp_path: Path, *files: tuple[str, str]) -> Path:
    for rel, text in files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    return tmp_path


def deployment(name: str, replicas: int = 3, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "api", "labels": labels or {}}, "spec": {"replicas": replicas}}


def test_matching_by_rules_exclusions_and_object_selector(tmp_path):
    policy = POLICY.format(name="p", expression="object.spec.replicas <= 2")
    root = admission_repo(tmp_path, ("admission/p.yaml", policy))
    admission = policies.load(root, ["prod"])
    assert admission.problems == []
    resources = [(deployment("web"), "web"), (deployment("excluded"), "excluded"),
                 (deployment("agent", labels={"tier": "system"}), "agent"), (deployment("small", 1), "small"),
                 ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}, "service")]
    results = list(admission.evaluate("prod", resources))
    assert [(r.resource, r.path, r.action, r.message) for r in results] == [
        ("web", ("spec", "replicas"), "Warn", "replicas over two [binding p]")]


def test_a_multi_line_expression_that_does_not_compile_points_at_its_line(tmp_path):
    root = admission_repo(tmp_path, ("admission/p.yaml", POLICY.format(name="p", expression="object.spec.replicas <")))
    admission = policies.load(root, ["prod"])
    assert [(p.path, p.line, p.policy) for p in admission.problems] == [("admission/p.yaml", 16, "p")]
    assert "validations[0] does not compile: Syntax error" in admission.problems[0].message
    assert admission.policies == {} and admission.bindings == []  # its binding is not reported twice


@pytest.mark.parametrize(("text", "line", "message"), [
    ("apiVersion: admissionregistration.k8s.io/v1beta1\nkind: ValidatingAdmissionPolicy\nmetadata: {name: p}\n",
     1, "must use apiVersion admissionregistration.k8s.io/v1"),
    ("apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata: {name: p}\n"
     "spec:\n  validatons: []\n", 5, "unknown field spec.validatons"),
    ("apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata: {name: b}\n"
     "spec:\n  policyName: missing\n  validationActions: [Deny]\n", 5, "no ValidatingAdmissionPolicy missing"),
    ("apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata: {name: b}\n"
     "spec:\n  policyName: p\n  validationActions: [Deny, Warn]\n", 6, "Deny and Warn may not be used together"),
    ("key: [unclosed\n", 2, "YAML-SYNTAX"),
    ("- a list\n", 1, "expected a Kubernetes object"),
])
def test_bad_admission_files_are_problems_at_their_line(tmp_path, text, line, message):
    good = POLICY.format(name="p", expression="true").split("---")[0]
    root = admission_repo(tmp_path, ("admission/a.yaml", good), ("admission/b.yaml", text))
    problems = policies.load(root, ["prod"]).problems
    assert [(p.path, p.line) for p in problems] == [("admission/b.yaml", line)]
    assert message in problems[0].message


def test_namespace_selector_uses_the_namespace_labels_and_the_name_label(tmp_path):
    policy = POLICY.format(name="p", expression="false").replace(
        "    objectSelector:", "    namespaceSelector:\n      matchLabels: {team: payments}\n    objectSelector:")
    admission = policies.load(admission_repo(tmp_path, ("admission/p.yaml", policy)), None)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "api", "labels": {"team": "payments"}}}
    assert len(list(admission.evaluate("prod", [(namespace, "ns"), (deployment("web"), "web")]))) == 1
    namespace["metadata"]["labels"] = {"team": "search"}
    assert list(admission.evaluate("prod", [(namespace, "ns"), (deployment("web"), "web")])) == []


@pytest.mark.parametrize(("kind", "resource"), [
    ("Deployment", "deployments"), ("Ingress", "ingresses"), ("NetworkPolicy", "networkpolicies"),
    ("Endpoints", "endpoints"), ("Gateway", "gateways"), ("GitRepository", "gitrepositories"),
    ("PodDisruptionBudget", "poddisruptionbudgets"),
])
def test_resources_are_named_as_kubernetes_names_them(kind, resource):
    assert policies.resource_of(kind) == resource


def test_the_shipped_admission_folder_loads_without_problems():
    admission = policies.load(PROJECT, ["dev", "staging", "prod"])
    assert admission.problems == []
    assert sorted(admission.policies) == ["image-registry", "no-host-path", "pdb-per-deployment"]
    assert sorted(b.policy for b in admission.bindings) == sorted(admission.policies)
