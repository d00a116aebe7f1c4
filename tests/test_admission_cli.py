"""Admission rules through the real program: `check` on a copy of the shipped repository (the api app, its three
environments and the shipped `admission/` folder), changed one way per test; findings at file:line."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import PROJECT, run_program

pytestmark = pytest.mark.slow  # each test builds the overlays with kustomize

ENVS = ("dev", "prod", "staging")
API = "admissionregistration.k8s.io/v1"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for name in ("base", "overlays", "admission"):
        shutil.copytree(PROJECT / name, root / name, ignore=shutil.ignore_patterns("storefront"))
    shutil.copy2(PROJECT / "gitops.yaml", root / "gitops.yaml")
    return root


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, (rel, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


def write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text, encoding="utf-8")


def add_resource(root: Path, env: str, name: str, text: str) -> None:
    write(root, f"overlays/{env}/api/{name}", text)
    edit(root, f"overlays/{env}/api/kustomization.yaml", "resources:\n", f"resources:\n  - {name}\n")


def check(root: Path, *args: str) -> tuple[int, list[str]]:
    result = run_program(["check", *args], root)
    assert "Traceback" not in result.stderr, result.stderr
    return result.code, result.stdout.split("check summary")[0].splitlines()


def mine(lines: list[str], marker: str) -> list[str]:
    return [line for line in lines if marker in line]


def test_the_shipped_repository_passes_its_policies_and_crd_rules(repo):
    code, lines = check(repo)
    assert code == 0, lines
    assert mine(lines, "VAP/") == [] and mine(lines, "K8S-CEL") == []


# CRD CEL rules ------------------------------------------------------------------------------------------


def test_an_httproute_backend_ref_without_port(repo):
    edit(repo, "base/phoenix/httproute.yaml", "        - name: web\n          port: 80\n", "        - name: web\n")
    code, lines = check(repo)
    assert code == 1
    assert mine(lines, "K8S-CEL") == [
        f"base/phoenix/httproute.yaml:21:7: error K8S-CEL $.spec.rules[0].backendRefs[0]: Must have port for Service "
        f"reference [{env}/api HTTPRoute/api-web]" for env in ENVS]


GATEWAY = """apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: internal
spec:
  gatewayClassName: shared
  listeners:
    - name: web
      port: 80
      protocol: HTTP
    - name: web
      port: 8080
      protocol: HTTP
"""


def test_a_gateway_listener_rule(repo):
    add_resource(repo, "prod", "gateway.yaml", GATEWAY)
    code, lines = check(repo, "--env", "prod")
    assert code == 1
    assert mine(lines, "K8S-CEL") == [
        "overlays/prod/api/gateway.yaml:7:3: error K8S-CEL $.spec.listeners: Listener name must be unique within the "
        "Gateway [prod/api Gateway/internal]"]


SECRET_STORE = """apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: secretserver
spec:
  provider:
    secretserver:
      serverURL: https://secretserver.example.org
      username:
        value: app
        secretRef: {name: secretserver, key: username}
      password:
        secretRef: {name: secretserver, key: password}
"""


def test_an_external_secrets_store_rule(repo):
    add_resource(repo, "staging", "secretstore.yaml", SECRET_STORE)
    code, lines = check(repo, "--env", "staging")
    assert code == 1
    assert mine(lines, "K8S-CEL") == [
        "overlays/staging/api/secretstore.yaml:9:7: error K8S-CEL $.spec.provider.secretserver.username: exactly one "
        "of value or secretRef must be set [staging/api SecretStore/secretserver]"]


FLUX_KUSTOMIZATION = """apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: extras
spec:
  interval: 5m
  prune: true
  sourceRef: {kind: GitRepository, name: extras}
  kubeConfig:
    configMapRef: {name: remote}
    secretRef: {name: remote}
"""


def test_a_flux_rule(repo):
    add_resource(repo, "dev", "flux.yaml", FLUX_KUSTOMIZATION)
    code, lines = check(repo, "--env", "dev")
    assert code == 1
    assert mine(lines, "K8S-CEL") == [
        "overlays/dev/api/flux.yaml:9:3: error K8S-CEL $.spec.kubeConfig: exactly one of spec.kubeConfig.configMapRef "
        "or spec.kubeConfig.secretRef must be specified [dev/api Kustomization/extras]"]


# The example policies, in Deny and in Warn -------------------------------------------------------------------


def foreign_image(root: Path) -> None:
    edit(root, "overlays/prod/api/kustomization.yaml", "  - name: ghcr.io/acme/api\n",
         "  - name: ghcr.io/acme/api\n    newName: docker.io/acme/api\n")


def test_image_registry_in_deny_and_in_warn(repo):
    foreign_image(repo)
    code, lines = check(repo, "--env", "prod")
    assert code == 1
    expected = ("{file}:{line}: {severity} VAP/image-registry images must come from ghcr.io/acme/: "
                "{container} do not (Forbidden) (params platform-policy/image-registry) [binding image-registry] "
                "[prod/api {resource}]")
    found = mine(lines, "VAP/")
    assert found == [  # the containers of each: the Job's in the base, the Deployment's in the prod patch
        expected.format(file="base/phoenix/migration-job.yaml", line="38:7", severity="error", container="migrate",
                        resource="Job/api-migrate"),
        expected.format(file="overlays/prod/api/deployment-patch.yaml", line="12:7", severity="error",
                        container="app", resource="Deployment/api-web"),
    ]
    edit(repo, "admission/image-registry.yaml", "validationActions: [Deny]", "validationActions: [Warn]")
    code, lines = check(repo, "--env", "prod")
    assert code == 0
    assert sorted(mine(lines, "VAP/")) == sorted(line.replace(": error VAP/", ": warning VAP/") for line in found)


HOST_PATH_PATCH = """- op: add
  path: /spec/template/spec/volumes/-
  value:
    name: node
    hostPath: {path: /var/run}
"""


def host_path(root: Path) -> None:
    write(root, "overlays/prod/api/hostpath-patch.yaml", HOST_PATH_PATCH)
    edit(root, "overlays/prod/api/kustomization.yaml", "patches:\n",
         "patches:\n  - path: hostpath-patch.yaml\n    target: {kind: Deployment}\n")


def test_no_host_path_in_deny_and_in_warn(repo):
    host_path(repo)
    code, lines = check(repo, "--env", "prod")
    assert code == 1 and mine(lines, "K8S-HOST-ACCESS")  # (the catalogue's own rule refuses it too)
    line = ("overlays/prod/api/hostpath-patch.yaml:3:3: {severity} VAP/no-host-path hostPath volumes are not allowed: "
            "node (Forbidden) [binding no-host-path] [prod/api Deployment/api-web]")
    assert mine(lines, "VAP/") == [line.format(severity="error")]
    edit(repo, "admission/no-host-path.yaml", "validationActions: [Deny]", "validationActions: [Warn]")
    code, lines = check(repo, "--env", "prod")
    assert mine(lines, "VAP/") == [line.format(severity="warning")]


def test_pdb_per_deployment_in_deny_and_in_warn(repo):
    edit(repo, "base/phoenix/kustomization.yaml", "  - pdb.yaml\n", "")
    code, lines = check(repo, "--env", "staging")
    assert code == 1
    line = ("base/phoenix/deployment.yaml:{at}: {severity} VAP/pdb-per-deployment no params found: no "
            "PodDisruptionBudget (policy/v1) matches the binding's paramRef (parameterNotFoundAction: Deny) "
            "[binding pdb-per-deployment] [staging/api Deployment/api-web]")
    found = mine(lines, "VAP/")
    assert len(found) == 1 and found[0].endswith(line.split("}: {severity}")[1].format())
    assert found[0].startswith("base/phoenix/deployment.yaml:") and ": error VAP/" in found[0]
    edit(repo, "admission/pdb-per-deployment.yaml", "validationActions: [Deny]", "validationActions: [Warn]")
    code, lines = check(repo, "--env", "staging")
    assert mine(lines, "VAP/") == [found[0].replace(": error VAP/", ": warning VAP/")]


def test_a_pdb_that_selects_other_pods(repo):
    edit(repo, "base/phoenix/pdb.yaml", "      app.kubernetes.io/component: web\n",
         "      app.kubernetes.io/component: worker\n")
    code, lines = check(repo, "--env", "prod")
    assert code == 1
    assert mine(lines, "VAP/pdb-per-deployment") == [
        "base/phoenix/deployment.yaml:29:7: error VAP/pdb-per-deployment PodDisruptionBudget api-web of namespace api "
        "does not select the pods of Deployment api-web (Invalid) (params api/api-web) [binding pdb-per-deployment] "
        "[prod/api Deployment/api-web]"]


# Params, matchConditions, namespaceSelector, environments -------------------------------------------------------


def test_params_come_from_the_repository(repo):
    edit(repo, "admission/params/image-registry.yaml", "registry: ghcr.io/acme/", "registry: registry.example.org/")
    code, lines = check(repo, "--env", "dev")
    assert code == 1
    assert sorted(line.split(" [binding")[0].split(": ", 1)[1] for line in mine(lines, "VAP/")) == [
        "error VAP/image-registry images must come from registry.example.org/: app do not (Forbidden) "
        "(params platform-policy/image-registry)",
        "error VAP/image-registry images must come from registry.example.org/: migrate do not (Forbidden) "
        "(params platform-policy/image-registry)"]
    (repo / "admission/params/image-registry.yaml").unlink()
    code, lines = check(repo, "--env", "dev")
    assert code == 1
    assert {line.split(" VAP/image-registry ")[1].split(" [binding")[0] for line in mine(lines, "VAP/")} == {
        "no params found: no ConfigMap (v1) matches the binding's paramRef (parameterNotFoundAction: Deny)"}


ONLY_MIGRATIONS = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: migration-retries
spec:
  matchConstraints:
    resourceRules:
      - {apiGroups: [apps, batch], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments, jobs]}
  matchConditions:
    - name: migrations-only
      expression: "object.metadata.?labels['app.kubernetes.io/component'].orValue('') == 'migrations'"
  validations:
    - expression: "object.spec.backoffLimit <= 1"
      message: a migration runs at most twice
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: migration-retries
spec:
  policyName: migration-retries
  validationActions: [Warn]
"""


def test_match_conditions_select_what_a_policy_judges(repo):
    write(repo, "admission/migration-retries.yaml", ONLY_MIGRATIONS)
    code, lines = check(repo, "--env", "prod")
    assert code == 0
    assert mine(lines, "VAP/") == [
        "base/phoenix/migration-job.yaml:19:3: warning VAP/migration-retries a migration runs at most twice "
        "[binding migration-retries] [prod/api Job/api-migrate]"]


NAMESPACE_POLICY = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: history
spec:
  matchConstraints:
    resourceRules:
      - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
  validations:
    - expression: "object.spec.revisionHistoryLimit <= 3"
      message: keep at most 3 old ReplicaSets
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: history
spec:
  policyName: history
  validationActions: [Audit]
  matchResources:
    namespaceSelector:
      matchLabels: {pod-security.kubernetes.io/enforce: LEVEL}
"""


def test_namespace_selector_reads_the_environment_s_namespaces(repo):
    write(repo, "admission/replicas.yaml", NAMESPACE_POLICY.replace("LEVEL", "restricted"))
    code, lines = check(repo)
    assert code == 0
    assert mine(lines, "VAP/history") == [
        f"base/phoenix/deployment.yaml:15:3: info VAP/history keep at most 3 old ReplicaSets [binding history] "
        f"[{env}/api Deployment/api-web]" for env in ENVS]
    write(repo, "admission/replicas.yaml", NAMESPACE_POLICY.replace("LEVEL", "baseline"))
    code, lines = check(repo)
    assert mine(lines, "VAP/history") == []


def test_a_binding_limited_to_some_environments(repo):
    foreign_image(repo)
    edit(repo, "overlays/dev/api/kustomization.yaml", "  - name: ghcr.io/acme/api\n",
         "  - name: ghcr.io/acme/api\n    newName: docker.io/acme/api\n")
    edit(repo, "admission/image-registry.yaml", "metadata:\n  name: image-registry\nspec:\n  policyName",
         "metadata:\n  name: image-registry\n  annotations:\n    phoenix-gitops/environments: prod\n"
         "spec:\n  policyName")
    code, lines = check(repo)
    assert code == 1
    assert {line.split("[")[-1] for line in mine(lines, "VAP/image-registry")} == {
        "prod/api Deployment/api-web]", "prod/api Job/api-migrate]"}
    edit(repo, "admission/image-registry.yaml", "environments: prod", "environments: prod, qa")
    code, lines = check(repo)
    assert code == 1
    assert mine(lines, "admission/image-registry.yaml") == [  # (the policy is then bound nowhere)
        "admission/image-registry.yaml:3:1: info VAP/image-registry ValidatingAdmissionPolicy image-registry has no "
        "binding: it checks nothing [dev]",
        "admission/image-registry.yaml:48:5: error K8S-VAP ValidatingAdmissionPolicyBinding image-registry: "
        "phoenix-gitops/environments names unknown environment(s) qa (known: dev, prod, staging) [dev]"]


# Bad input --------------------------------------------------------------------------------------------------


BROKEN = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: broken
spec:
  failurePolicy: FAILURE
  matchConstraints:
    resourceRules:
      - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}
  validations:
    - expression: "EXPRESSION"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: broken
spec:
  policyName: broken
  validationActions: [Deny]
"""


def broken(root: Path, expression: str, failure: str = "Fail") -> None:
    write(root, "admission/broken.yaml", BROKEN.replace("EXPRESSION", expression).replace("FAILURE", failure))


def test_an_expression_that_does_not_compile_is_an_error_at_its_line(repo):
    broken(repo, "object.spec.replicas >")
    code, lines = check(repo, "--env", "prod")
    assert code == 1
    assert mine(lines, "admission/") == [
        "admission/broken.yaml:11:7: error VAP/broken ValidatingAdmissionPolicy broken: validations[0] does not "
        "compile: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', "
        "'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER} (line 1, column 23 of the expression) "
        "[prod]"]
    broken(repo, "object.spec.replicas.isQuantity()")
    code, lines = check(repo, "--env", "prod")
    assert code == 1 and "undeclared reference to 'isQuantity'" in mine(lines, "admission/broken.yaml:11:7")[0]


def test_a_file_that_does_not_parse_is_an_error_at_its_line(repo):
    write(repo, "admission/typo.yaml", f"apiVersion: {API}\nkind: [ValidatingAdmissionPolicy\n")
    code, lines = check(repo, "--env", "prod")
    assert code == 1
    found = mine(lines, "admission/typo.yaml")
    assert len(found) == 1 and found[0].startswith("admission/typo.yaml:3:1: error K8S-VAP YAML-SYNTAX: ")


def test_a_run_time_error_follows_the_failure_policy(repo):
    broken(repo, "object.spec.strategy.canary.steps > 0")
    code, lines = check(repo, "--env", "prod")
    assert code == 1
    assert mine(lines, "VAP/broken") == [
        "base/phoenix/deployment.yaml:18:3: error VAP/broken validations[0] could not be evaluated: Key not found in "
        "map : \"canary\" [binding broken] [prod/api Deployment/api-web]"]
    broken(repo, "object.spec.strategy.canary.steps > 0", failure="Ignore")
    code, lines = check(repo, "--env", "prod")
    assert code == 0
    assert mine(lines, "VAP/broken") == [
        "base/phoenix/deployment.yaml:18:3: warning VAP/broken validations[0] could not be evaluated: Key not found "
        "in map : \"canary\"; the cluster ignores the error (failurePolicy: Ignore), so the policy checks nothing "
        "[binding broken] [prod/api Deployment/api-web]"]


def test_a_runaway_expression_is_stopped_by_the_cost_limit(repo):
    broken(repo, "lists.range(1000).all(i, lists.range(1000).all(j, lists.range(1000).all(k, i + j + k >= 0)))",
           failure="Ignore")
    code, lines = check(repo, "--env", "prod")
    assert code == 1  # a cost-limit stop is an error whatever the failure policy
    found = mine(lines, "VAP/broken")
    assert len(found) == 1 and found[0].startswith("base/phoenix/deployment.yaml:")
    assert ": error VAP/broken validations[0] could not be evaluated: estimated cost " in found[0]
    assert "is over the limit of 10,000,000 on this input" in found[0]


def test_a_suppression_hides_a_policy_finding_and_is_listed(repo):
    foreign_image(repo)
    edit(repo, "overlays/prod/api/deployment-patch.yaml", "  annotations:\n",
         "  annotations:\n    phoenix-gitops/suppress: \"K8S-VAP: mirrored from Docker Hub until the move to "
         "ghcr.io\"\n")
    code, lines = check(repo, "--env", "prod")
    assert code == 1  # the Job is not annotated
    assert [line.split("[prod/api ")[-1] for line in mine(lines, "VAP/image-registry")] == ["Job/api-migrate]"]
    assert [line.split(": ", 1)[1] for line in mine(lines, "suppressed K8S-VAP")] == [
        "suppressed K8S-VAP (1 finding(s)): mirrored from Docker Hub until the move to ghcr.io "
        "[prod/api Deployment/api-web]"]


def test_a_changed_policy_is_judged_again_with_the_cache(repo):
    foreign_image(repo)
    code, lines = check(repo, "--env", "prod")
    assert code == 1 and len(mine(lines, ": error VAP/image-registry")) == 2
    edit(repo, "admission/image-registry.yaml", "validationActions: [Deny]", "validationActions: [Audit]")
    code, lines = check(repo, "--env", "prod")
    assert code == 0 and len(mine(lines, ": info VAP/image-registry")) == 2
