"""workloads: Phoenix workloads are found by what their pods show, each in a role, with the serving port by evidence;
every workload says which rule families applied, and one with Phoenix signals that cannot be classified is said."""
from __future__ import annotations

import json

import pytest
from conftest import PROJECT
from support import evaluate, views_of
from test_rules import FIXTURES, POLICY, load_case

from phoenix_gitops import rules
from phoenix_gitops.cache import RunCache, fingerprint
from phoenix_gitops.check import CheckReport, run_check
from phoenix_gitops.kustomize import Kustomize
from phoenix_gitops.layout import Environment, Overlay, Repo
from phoenix_gitops.model import Rendered
from phoenix_gitops.report import format_report, summary_lines
from phoenix_gitops.rules.model import View
from phoenix_gitops.rules.workloads import APPLIES, WORKLOAD_FAMILIES, ServingPort, classify, records
from phoenix_gitops.sources import SourceGraph
from phoenix_gitops.yamlio import load_text

ENV = Environment(name="prod", cluster="prod-1", server="https://prod-1.k8s.example.org:6443",
                  kubernetes_version="1.34", argocd_project="phoenix-prod", base_domain="example.org",
                  path=PROJECT / "overlays" / "prod", repo_root=PROJECT, apps={"shop": ("shop",)})
OVERLAY = Overlay("prod", "shop", PROJECT / "overlays" / "prod" / "shop", "overlays/prod/shop")


def view_of_text(text: str) -> View:
    """The rules' view of rendered resources written as YAML (origins point back into the text)."""
    docs = load_text(text, "inline.yaml")
    rendered = {"prod": [Rendered(OVERLAY, "", tuple(d.data for d in docs), tuple({"path": "inline.yaml"}
                                                                                  for _ in docs))]}
    graph = SourceGraph(OVERLAY, kustomizations=["inline.yaml"], documents={"inline.yaml": docs})
    (view,) = views_of([ENV], rendered, {OVERLAY: graph}, POLICY)
    return view


def pod(kind: str, container: str, labels: str = "app: shop", pod_extra: str = "") -> str:
    """A workload of `kind` whose pod runs `container` (YAML, indented for the container list)."""
    spec = f"""    metadata: {{labels: {{{labels}}}}}
    spec:
{pod_extra}      containers:
{container}"""
    if kind == "Pod":
        return f"apiVersion: v1\nkind: Pod\nmetadata: {{name: shop, labels: {{{labels}}}}}\nspec:\n" + "\n".join(
            line[4:] for line in spec.splitlines()[2:])
    if kind == "CronJob":
        head = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: shop}\nspec:\n  schedule: '0 3 * * *'\n"
        return head + "  jobTemplate:\n    spec:\n      template:\n" + "\n".join("    " + line
                                                                            for line in spec.splitlines())
    api = "batch/v1" if kind == "Job" else "apps/v1"
    return f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: shop}}\nspec:\n  template:\n{spec}"


def release(command: str = "", env: str = "", ports: str = "", name: str = "shop") -> str:
    text = f"        - name: {name}\n          image: ghcr.io/acme/shop:1.2.3\n"
    if command:
        text += f"          command: {command}\n"
    if ports:
        text += f"          ports: {ports}\n"
    if env:
        text += f"          env: {env}\n"
    return text


SERVICE = ("---\napiVersion: v1\nkind: Service\nmetadata: {name: shop}\n"
           "spec: {selector: {app: shop}, ports: [{port: 80}]}")


@pytest.mark.parametrize(("text", "role", "evidence"), [
    (pod("Deployment", release(env="[{name: RELEASE_NODE, value: shop@$(POD_IP)}, {name: PHX_HOST, value: a.org}]",
                               ports="[{name: http, containerPort: 4000}]")), "web", "env RELEASE_NODE"),
    (pod("StatefulSet", release(env="[{name: PHX_HOST, value: shop.example.org}]")), "web", "env PHX_HOST"),
    (pod("Deployment", release(command="[/app/bin/server]")), "web", "command bin/server"),
    (pod("Deployment", release(command="[mix, phx.server]")), "web", "command mix phx.server"),
    (pod("Deployment", release(env="[{name: PHX_HOST, value: a.org}, {name: PHX_SERVER, value: 'false'}]")),
     "worker", "env PHX_SERVER"),
    (pod("Deployment", release(command="[/app/bin/shop, start]")), "worker", "command bin/<app> start"),
    (pod("Deployment", release(command="[/app/bin/shop, start]")) + SERVICE, "web", "command bin/<app> start"),
    (pod("Deployment", release(env="[{name: RELEASE_COOKIE, value: x}]")), "worker", "env RELEASE_COOKIE"),
    (pod("Job", release(command="[/app/bin/shop, eval, 'Shop.Release.migrate()']")), "migration",
     "command bin/<app> eval"),
    (pod("Job", release(command="[/app/bin/migrate]")), "migration", "command bin/migrate"),
    (pod("Job", release(env="[{name: RELEASE_TMP, value: /tmp}]"), labels="app.kubernetes.io/component: migrations"),
     "migration", "env RELEASE_TMP"),
    (pod("CronJob", release(command="[/app/bin/shop, eval, 'Shop.Tasks.nightly()']")), "task",
     "command bin/<app> eval"),
    (pod("Job", release(command="[/app/bin/shop, eval, 'Shop.Tasks.once()']")), "task", "command bin/<app> eval"),
    (pod("Pod", release(command="[/app/bin/migrate]"), pod_extra="      restartPolicy: Never\n"), "migration",
     "command bin/migrate"),
    (pod("DaemonSet", release(env="[{name: DNS_CLUSTER_QUERY, value: shop-headless}]")), "worker",
     "env DNS_CLUSTER_QUERY"),
    (pod("Deployment", release(command="[mix, phoenix.server]")), "web", "command mix phx.server"),  # Phoenix 1.2
])
def test_a_phoenix_workload_is_recognised_by_its_pod_and_given_its_role(text, role, evidence):
    (workload, *_) = classify(view_of_text(text))
    assert (workload.phoenix, workload.role, workload.problem) == (True, role, None)
    assert evidence in workload.evidence


@pytest.mark.parametrize(("text", "evidence", "problem"), [
    (pod("Deployment", release(ports="[{name: http, containerPort: 8080}]", name="nginx")), (), None),
    (pod("Deployment", release(env="[{name: RELEASE_VERSION, value: '1.2'}, {name: SECRET_KEY_BASE, value: x}]")),
     ("env RELEASE_VERSION", "env SECRET_KEY_BASE"),
     "shows signals of a BEAM/Phoenix release (env RELEASE_VERSION, env SECRET_KEY_BASE)"),
    # a Phoenix app configured only through SECRET_KEY_BASE and a port named phoenix is said, never silent
    (pod("Deployment", release(env="[{name: SECRET_KEY_BASE, value: x}, {name: PORT, value: '4000'}]",
                               ports="[{name: phoenix, containerPort: 4000}]")),
     ("env SECRET_KEY_BASE", "port phoenix"), "shows signals of a BEAM/Phoenix release (env SECRET_KEY_BASE, port"),
    (pod("StatefulSet", release(env="[{name: ERL_FLAGS, value: '-name couch'}]",
                                ports="[{name: epmd, containerPort: 4369}]")),
     ("env ERL_FLAGS", "port epmd (4369)"), "but none that says it runs an Elixir release"),
    (pod("Deployment", release(name="web"), labels="app.kubernetes.io/component: web"),
     ("label app.kubernetes.io/component: web",), "shows signals"),
    (pod("Deployment", release(command="[/app/bin/shop, eval, 'Shop.Reports.run()']")), ("command bin/<app> eval",),
     "runs a one-off release command (eval, rpc, migrate) in a long-running Deployment"),
])
def test_a_workload_without_enough_evidence_is_not_phoenix_and_says_why(text, evidence, problem):
    (workload,) = classify(view_of_text(text))
    assert workload.role is None and workload.evidence == evidence
    assert (workload.problem is None) if problem is None else (problem in str(workload.problem))
    assert "other-workloads" in workload.families


def test_an_unclassified_workload_is_an_info_finding_in_every_environment():
    for env in ("dev", "staging", "prod"):
        assert POLICY.severity(rules.CATALOGUE["PHX-UNCLASSIFIED"], env) == "info"
    envs, rendered, graphs, _ = load_case(FIXTURES / "PHX-UNCLASSIFIED" / "fail.yaml")
    result = evaluate(envs, rendered, graphs, policy=POLICY, only={"PHX-UNCLASSIFIED", "K8S-IMAGE-TAG",
                                                                      "K8S-RUN-AS-ROOT", "PHX-V11"})
    assert [f"{f.line} {f.severity} {f.rule}" for f in result.findings] == [
        "5 info PHX-UNCLASSIFIED", "14 error K8S-RUN-AS-ROOT"]  # the general rules still check it


@pytest.mark.parametrize(("container", "expected"), [
    (release(env="[{name: PORT, value: '8080'}, {name: PHX_HOST, value: a.org}]",
             ports="[{name: web, containerPort: 8080}, {name: metrics, containerPort: 9568}]"),
     ServingPort(8080, ("web",), "env PORT")),
    (release(env="[{name: PHX_HOST, value: a.org}]", ports="[{name: phoenix, containerPort: 4000}]"),
     ServingPort(4000, ("phoenix",), "container port phoenix")),
    (release(env="[{name: PHX_HOST, value: a.org}]", ports="[{name: api, containerPort: 4001}]")
     + "          readinessProbe: {httpGet: {path: /, port: api}}\n",
     ServingPort(4001, ("api",), "readinessProbe port api")),
    (release(env="[{name: PHX_HOST, value: a.org}]"), ServingPort(4000, (), "Phoenix's default (no PORT)")),
])
def test_the_serving_port_is_found_by_evidence(container, expected):
    (workload,) = classify(view_of_text(pod("Deployment", container)))
    assert workload.role == "web" and workload.serving == expected


def test_the_release_container_is_the_one_with_the_evidence_not_the_first():
    sidecar = "        - {name: cloud-sql-proxy, image: 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1'}\n"
    view = view_of_text(pod("Deployment", sidecar + release(env="[{name: PHX_HOST, value: a.org}]")))
    (workload,) = classify(view)
    assert workload.container["name"] == "shop" and workload.c_path is not None and workload.c_path[-1] == 1


def test_a_worker_gets_the_general_probe_rule_not_the_web_one():
    envs, rendered, graphs, _ = load_case(FIXTURES / "PHX-V13" / "pass-worker.yaml")
    result = evaluate(envs, rendered, graphs, policy=POLICY, only={"PHX-V13", "K8S-PROBES", "PHX-V15"})
    assert [f.rule for f in result.findings] == ["K8S-PROBES"]


def test_every_workload_says_which_rule_families_applied():
    envs, rendered, graphs, _ = load_case(FIXTURES / "PHX-V29" / "pass-default-deny.yaml")
    (view,) = views_of(envs, rendered, graphs, POLICY)
    found = {r["resource"]: r for r in records(view)}
    web, job = found["Deployment/shop"], found["Job/shop-migrate"]
    assert (web["phoenix"], web["role"], web["servingPort"], web["clustered"]) == (True, "web", "phoenix (4000)", True)
    assert web["rules"] == ["phoenix-release", "phoenix-long-running", "phoenix-web", "phoenix-secrets",
                            "phoenix-clustered", "across-environments", "every-workload"]  # (no PHX_* variable)
    assert (job["role"], job["rules"]) == ("migration", ["phoenix-release", "phoenix-migration", "phoenix-secrets",
                                                         "every-workload"])
    report = CheckReport(workloads=[*found.values(), {"resource": "Deployment/assets", "phoenix": False,
                                                       "role": None, "unclassified": None}], apps={"prod": ["shop"]})
    assert summary_lines(report) == ["2 Phoenix workloads (1 web, 1 migration), 1 other workload"]
    assert json.loads(format_report(report, "json"))["workloads"][0]["rules"] == web["rules"]
    assert "2 Phoenix workloads (1 web, 1 migration), 1 other workload" in format_report(report, "markdown")


def test_the_summary_names_the_unclassified_and_is_empty_without_a_checked_app():
    report = CheckReport(workloads=[{"phoenix": False, "role": None, "unclassified": "shows signals"}],
                         apps={"prod": ["db"]})
    assert summary_lines(report) == ["0 Phoenix workloads, 1 other workload (1 with Phoenix signals but unclassified: "
                                     "PHX-UNCLASSIFIED)"]
    assert summary_lines(CheckReport()) == []


def test_every_phoenix_rule_says_which_workloads_it_applies_to():
    text = rules.rules_markdown(POLICY)
    for rule_id in (r for r in rules.CATALOGUE if r.startswith("PHX-")):
        assert APPLIES[rule_id] in WORKLOAD_FAMILIES, rule_id
        section = text.split(f"### {rule_id}\n", 1)[1].split("\n### ", 1)[0]
        assert "*Applies to.* " in section and f"rule family `{APPLIES[rule_id]}`" in section, rule_id


def test_the_workloads_of_a_check_survive_the_cache(fixture_repo, kz, tmp_path):
    repo = Repo(fixture_repo("five-rules"))
    def cache() -> RunCache:
        return RunCache.load(repo.root, fingerprint(kz.version), tmp_path)

    cold = run_check(repo, repo.select_envs("all"), kz, cache=cache())
    cannot_build = Kustomize(("/nonexistent/kustomize", "build"), kz.version)
    warm = run_check(repo, repo.select_envs("all"), cannot_build, cache=cache())
    assert warm.tool_errors == [] and warm.workloads == cold.workloads
    assert [(w["resource"], w["role"]) for w in cold.workloads] == [("Deployment/api-web", "web"),
                                                                     ("Job/api-migrate", "migration")]
