"""lint: files, plain folders and kustomize roots anywhere, through the check's stages; findings at file:line
relative to the current folder, nothing outside the git repository read, what lint cannot check said."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from conftest import PROJECT, cli_argv, cli_env, run_program

from phoenix_gitops import lint, report
from phoenix_gitops.errors import UsageError
from phoenix_gitops.kube_schemas import supported_versions

FIXTURE = PROJECT / "tests" / "fixtures" / "lint"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """tests/fixtures/lint copied, `shop/` a git repository (its `.git` is all lint looks for)."""
    shutil.copytree(FIXTURE, tmp_path / "lint")
    (tmp_path / "lint" / "shop" / ".git").mkdir()
    return tmp_path / "lint" / "shop"


def lines(result) -> list[str]:
    return result.stdout.splitlines()


def finding(result, where: str, rule: str) -> str:
    """The one text finding at `where` (`path:line:`) of `rule`."""
    hits = [line for line in lines(result) if line.startswith(where) and f" {rule} " in line]
    assert len(hits) == 1, result.stdout + result.stderr
    return hits[0]


def test_a_single_file_is_linted_at_its_lines(shop):
    result = run_program(["lint", "manifests/deployment.yaml"], None, cwd=shop)
    assert result.code == 1
    assert "$.spec.replicsa: unknown field 'replicsa'" in finding(result, "manifests/deployment.yaml:6:3:",
                                                                     "K8S-SCHEMA")
    assert "SECRET_KEY_BASE has a literal value (****)" in finding(result, "manifests/deployment.yaml:20:",
                                                                   "SEC-SECRET-NAME")
    assert "kq2Lr8vXw3Zp9Tn4Hs7Yb1Mc6Fd0Ge5J" not in result.stdout + result.stderr


def test_a_folder_is_one_view_every_problem_at_once(shop):
    result = run_program(["lint", "manifests"], None, cwd=shop)
    assert result.code == 1
    finding(result, "manifests/deployment.yaml:6:3:", "K8S-SCHEMA")
    assert "(cert-manager.io/v1)" in finding(result, "manifests/certificate.yaml:2:", "K8S-UNKNOWN-CRD")
    assert not [line for line in lines(result) if "K8S-SERVICE-SELECTOR" in line]  # the Service sees the Deployment
    assert "ISO-NAMESPACE did not run: lint has no environment file declaring each app's namespaces" in lines(result)
    assert any(line.startswith("rules did not run across environments: lint compares no environments (")
               and "PHX-V35" in line for line in lines(result))


def test_a_kustomize_root_is_built_with_builtin_plugins_and_its_base_is_not_linted_alone(shop):
    result = run_program(["lint", "deploy"], None, cwd=shop)
    assert result.code == 1
    hit = finding(result, "deploy/base/deployment.yaml:18:", "K8S-SCHEMA")
    assert "expected integer, got string" in hit and "[prod/deploy/overlays/prod Deployment/shop]" in hit
    assert not [line for line in lines(result) if "prod/deploy/base " in line]  # checked through the overlay only


def test_paths_are_relative_to_the_current_folder_and_bases_above_it_are_allowed(shop):
    result = run_program(["lint", "."], None, cwd=shop / "deploy" / "overlays" / "prod")
    assert result.code == 1
    finding(result, "../../base/deployment.yaml:18:", "K8S-SCHEMA")


def test_a_base_outside_the_git_repository_is_refused(shop):
    result = run_program(["lint", "escape"], None, cwd=shop)
    assert result.code == 1
    assert "'../../outside/base' leads outside the repository" in finding(
        result, "escape/kustomization.yaml:4:", "SRC-PATH")
    assert "rules did not run for escape: its sources have errors" in lines(result)


def test_a_path_outside_the_git_repository_is_a_usage_error(shop):
    result = run_program(["lint", "../outside/base/configmap.yaml"], None, cwd=shop)
    assert result.code == 2
    assert "../outside/base/configmap.yaml: outside " in result.stderr and result.stdout == ""


def test_a_folder_without_kubernetes_objects_says_so_and_fails(shop):
    result = run_program(["lint", "notes"], None, cwd=shop)
    assert result.code == 1
    assert "holds no Kubernetes object" in finding(result, "notes:", "LINT-NO-OBJECTS")


def test_a_helm_chart_is_not_read_and_the_report_says_so(shop):
    result = run_program(["lint", "chart", "clean"], None, cwd=shop)
    assert result.code == 1  # the chart was the only thing under its PATH: nothing checked there
    finding(result, "chart:", "LINT-NO-OBJECTS")
    assert any(line.startswith("rules did not run for chart: a Helm chart (Chart.yaml)") for line in lines(result))


def test_a_file_with_bad_yaml_is_an_error_at_its_line_and_the_rest_is_checked(shop):
    (shop / "manifests" / "broken.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
                                                    "   bad: [\n")
    result = run_program(["lint", "manifests/broken.yaml", "manifests/deployment.yaml"], None, cwd=shop)
    assert result.code == 1
    finding(result, "manifests/broken.yaml:5:", "YAML-SYNTAX")
    finding(result, "manifests/deployment.yaml:6:3:", "K8S-SCHEMA")
    assert " LINT-NO-OBJECTS " not in result.stdout


def test_clean_manifests_exit_0_with_the_summary(shop):
    result = run_program(["lint", "clean"], None, cwd=shop)
    assert result.code == 0, result.stdout
    assert "lint summary" in result.stdout and "(lint)" in result.stdout


@pytest.mark.parametrize("args", [["nowhere.yaml"], ["clean", "--profile", "qa"],
                                  ["clean", "--kubernetes-version", "1.10"], ["clean", "--format", "xml"], []])
def test_usage_errors_exit_2(shop, args):
    result = run_program(["lint", *args], None, cwd=shop)
    assert result.code == 2 and result.stderr.strip(), result


def test_the_kubernetes_version_and_the_profile_are_used(shop):
    (shop / "clean" / "hpa.yaml").write_text(
        "apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: shop\n")
    newest = run_program(["lint", "clean/hpa.yaml"], None, cwd=shop)
    assert "not served by Kubernetes " + supported_versions()[-1] in finding(
        newest, "clean/hpa.yaml:2:", "K8S-UNKNOWN-KIND")
    old = run_program(["lint", "clean/hpa.yaml", "--kubernetes-version", "1.25", "--format", "json"], None, cwd=shop)
    document = json.loads(old.stdout)
    assert "K8S-UNKNOWN-KIND" not in {f["rule"] for f in document["findings"]}
    assert document["environments"][0]["kubernetes_version"] == "1.25"
    dev = run_program(["lint", "manifests", "--profile", "dev", "--format", "json"], None, cwd=shop)
    assert {f["env"] for f in json.loads(dev.stdout)["findings"]} == {"dev"}


@pytest.mark.parametrize("fmt", report.FORMATS)
def test_every_format_reports_the_findings_and_what_was_not_checked(shop, fmt):
    result = run_program(["lint", "manifests", "--format", fmt], None, cwd=shop)
    assert result.code == 1
    out = result.stdout
    assert "manifests/deployment.yaml" in out
    if fmt == "json":
        document = json.loads(out)
        assert {"what": "ISO-NAMESPACE", "reason": "lint has no environment file declaring each app's namespaces"} \
            in document["rulesSkipped"]
    elif fmt == "sarif":
        assert json.loads(out)["runs"][0]["results"]
    elif fmt == "junit":
        assert ET.fromstring(out).get("failures") != "0"
    elif fmt in ("github", "markdown"):
        assert "ISO-NAMESPACE did not run" in out


def test_run_lint_refuses_paths_outside_and_unknown_settings(shop, kz):
    with pytest.raises(UsageError, match="outside"):
        lint.run_lint(["../outside"], shop, kz)
    with pytest.raises(UsageError, match="unknown profile"):
        lint.run_lint(["clean"], shop, kz, profile="production")
    assert lint.boundary(shop / "deploy") == shop
    assert lint.boundary(shop.parent) == shop.parent  # outside a git repository: the folder itself


@pytest.mark.slow  # a subprocess
def test_invoke_with_the_project_s_tasks_lints_several_paths_from_any_folder(shop):
    import subprocess

    proc = subprocess.run(cli_argv(["lint", "manifests/service.yaml", "manifests/deployment.yaml", "clean"]),
                          capture_output=True, text=True, timeout=120, env=cli_env(None), cwd=shop, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "manifests/deployment.yaml:6:3: error K8S-SCHEMA" in proc.stdout
    assert "K8S-SERVICE-SELECTOR" not in proc.stdout  # the two files named together are one view


HOST_PATH_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: debug
  namespace: shop
spec:
  containers:
    - name: sh
      image: busybox:1.36
  volumes:
    - name: node
      hostPath:
        path: /var/lib
"""


@pytest.fixture
def with_policies(shop: Path) -> Path:
    """The shop with the shipped `admission/` example policies and a Pod that mounts a hostPath."""
    shutil.copytree(PROJECT / "admission", shop / "admission")
    (shop / "pod").mkdir()
    (shop / "pod" / "pod.yaml").write_text(HOST_PATH_POD)
    return shop


def test_the_admission_policies_of_the_repository_judge_what_is_linted(with_policies):
    result = run_program(["lint", "pod"], None, cwd=with_policies)
    assert result.code == 1
    assert "hostPath volumes are not allowed: node" in finding(result, "pod/pod.yaml:10:3:", "VAP/no-host-path")
    assert "error VAP/image-registry" in finding(result, "pod/pod.yaml:", "VAP/image-registry")
    assert not any("K8S-VAP" in line for line in lines(result) if "did not run" in line)


def test_a_binding_for_other_environments_does_not_judge_the_profile(with_policies):
    policy = with_policies / "admission" / "no-host-path.yaml"
    policy.write_text(policy.read_text().replace(
        "  name: no-host-path\nspec:\n  policyName:",
        "  name: no-host-path\n  annotations: {phoenix-gitops/environments: staging}\nspec:\n  policyName:"))
    assert "phoenix-gitops/environments: staging" in policy.read_text()
    prod = run_program(["lint", "pod"], None, cwd=with_policies)
    staging = run_program(["lint", "pod", "--profile", "staging"], None, cwd=with_policies)
    assert not [line for line in lines(prod) if "VAP/no-host-path" in line]
    finding(staging, "pod/pod.yaml:10:3:", "VAP/no-host-path")


def test_a_policy_that_does_not_compile_is_an_error_at_its_line_in_lint(with_policies):
    policy = with_policies / "admission" / "no-host-path.yaml"
    policy.write_text(policy.read_text().replace("exists(v, has(v.hostPath))", "exists(v, hasPath(v))"))
    result = run_program(["lint", "clean"], None, cwd=with_policies)
    assert result.code == 1
    assert "does not compile: undeclared reference to 'hasPath'" in finding(
        result, "admission/no-host-path.yaml:29:7:", "VAP/no-host-path")
