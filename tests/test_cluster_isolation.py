"""cluster_isolation: bootstrap objects that let an environment reach another cluster are refused, at their line."""
from __future__ import annotations

import pytest
from conftest import PROJECT, run_program, tree_bytes
from support import shipped_bootstrap as shipped_files

from phoenix_gitops import bootstrap
from phoenix_gitops.cluster_isolation import check_isolation
from phoenix_gitops.layout import Repo
from phoenix_gitops.yamlio import dump_yaml, load_text

ENVS = ("dev", "staging", "prod")
SERVERS = {
    "dev": "https://dev-1.k8s.example.org:6443",
    "staging": "https://staging-1.k8s.example.org:6443",
    "prod": "https://prod-1.k8s.example.org:6443",
}


def test_shipped_bootstrap_has_no_isolation_problem():
    envs = Repo(PROJECT).select_envs("all")
    assert check_isolation(envs, {name: shipped_files(name) for name in ENVS}) == []


def tamper(rel: str, change) -> list[str]:
    """Isolation findings after `change(obj)` on one generated prod object (re-emitted as YAML)."""
    files = shipped_files("prod")
    obj = load_text(files[rel], rel)[0].data
    change(obj)
    repo = Repo(PROJECT)
    files[rel] = (bootstrap.header(repo.environment("prod"), repo.settings()) + dump_yaml(obj)).encode()
    envs = Repo(PROJECT).select_envs("all")
    return [str(f) for f in check_isolation(envs, {"prod": files}, repo.settings())]


APP = "argocd/application-prod-api.yaml"
PROJ = "argocd/appproject-phoenix-prod.yaml"


@pytest.mark.parametrize(
    ("rel", "change", "expected"),
    [
        (APP, lambda o: o["spec"]["destination"].update(server=SERVERS["staging"]),
         f"clusters/prod/{APP}:24:5: error ISO-ARGO-DESTINATION $.spec.destination.server: "
         f"'{SERVERS['staging']}' is not the server of the prod cluster ('{SERVERS['prod']}') "
         "[prod Application/phoenix-gitops-prod-api]"),
        (APP, lambda o: o["spec"].update(project="phoenix-staging"),
         f"clusters/prod/{APP}:16:3: error ISO-ARGO-PROJECT $.spec.project: 'phoenix-staging' is not the project "
         "of environment prod ('phoenix-prod') [prod Application/phoenix-gitops-prod-api]"),
        (APP, lambda o: o["spec"]["source"].update(path="rendered/dev/api"),
         f"clusters/prod/{APP}:20:5: error ISO-ARGO-SOURCE $.spec.source.path: 'rendered/dev/api' is outside "
         "rendered/prod/ [prod Application/phoenix-gitops-prod-api]"),
        (APP, lambda o: o["spec"]["syncPolicy"].update(automated={"prune": True, "selfHeal": True}),
         f"clusters/prod/{APP}:31:5: error ISO-ARGO-SYNC $.spec.syncPolicy.automated: environment prod syncs "
         "manually (overlays/prod/environment.yaml: sync.automated is false) "
         "[prod Application/phoenix-gitops-prod-api]"),
        (PROJ, lambda o: o["spec"]["destinations"].append({"server": SERVERS["dev"], "namespace": "api"}),
         f"clusters/prod/{PROJ}:19:5: error ISO-ARGO-DESTINATION $.spec.destinations[2].server: "
         f"'{SERVERS['dev']}' is not the server of the prod cluster ('{SERVERS['prod']}') "
         "[prod AppProject/phoenix-prod]"),
        (PROJ, lambda o: o["spec"]["destinations"][0].update(namespace="*"),
         f"clusters/prod/{PROJ}:16:5: error ISO-ARGO-WILDCARD $.spec.destinations[0].namespace: '*' is a pattern; "
         "name one cluster and namespace [prod AppProject/phoenix-prod]"),
        (PROJ, lambda o: o["spec"]["sourceRepos"].append("https://github.com/acme/*"),
         f"clusters/prod/{PROJ}:14:5: error ISO-ARGO-WILDCARD $.spec.sourceRepos[1]: 'https://github.com/acme/*' "
         "is a pattern; list "
         "exactly this repository [prod AppProject/phoenix-prod]"),
        ("argocd/appproject-default.yaml", lambda o: o["spec"].update(sourceRepos=["*"]),
         "clusters/prod/argocd/appproject-default.yaml:11:3: error ISO-ARGO-DEFAULT-PROJECT $.spec.sourceRepos: "
         "the default project must stay empty so nothing can land in it [prod AppProject/default]"),
        ("flux/kustomization-api-prepare.yaml", lambda o: o["spec"].update(path="./rendered/prod/../dev/api"),
         "clusters/prod/flux/kustomization-api-prepare.yaml:19:3: error ISO-FLUX-PATH $.spec.path: "
         "'./rendered/prod/../dev/api' is outside ./rendered/prod/ [prod Kustomization/phoenix-gitops-api-prepare]"),
        ("flux/kustomization-api-prepare.yaml", lambda o: o["spec"].update(kubeConfig={"secretRef": {"name": "dev"}}),
         "clusters/prod/flux/kustomization-api-prepare.yaml:30:3: error ISO-FLUX-CLUSTER $.spec.kubeConfig: "
         "a Kustomization of this cluster must not apply to another cluster "
         "[prod Kustomization/phoenix-gitops-api-prepare]"),
        # the namespace reach is the environment file's declaration
        (PROJ, lambda o: o["spec"]["destinations"].append({"server": SERVERS["prod"], "namespace": "kube-system"}),
         f"clusters/prod/{PROJ}:20:5: error ISO-ARGO-DESTINATION $.spec.destinations[2].namespace: 'kube-system' is "
         "not a namespace overlays/prod/environment.yaml declares for an app [prod AppProject/phoenix-prod]"),
        (PROJ, lambda o: o["spec"]["clusterResourceWhitelist"][0].pop("name"),
         f"clusters/prod/{PROJ}:20:5: error ISO-ARGO-DESTINATION $.spec.clusterResourceWhitelist[0]: a Namespace "
         "entry without a name allows every Namespace [prod AppProject/phoenix-prod]"),
        (APP, lambda o: o["spec"]["destination"].update(namespace="storefront-x"),
         f"clusters/prod/{APP}:25:5: error ISO-ARGO-DESTINATION $.spec.destination.namespace: 'storefront-x' is not "
         "a namespace overlays/prod/environment.yaml declares [prod Application/phoenix-gitops-prod-api]"),
        ("flux/kustomization-api-prepare.yaml", lambda o: o["spec"].pop("serviceAccountName"),
         "clusters/prod/flux/kustomization-api-prepare.yaml:12:1: error ISO-FLUX-ACCOUNT $.spec.serviceAccountName: "
         "None: apply app api as its own account 'phoenix-gitops-api', whose rights reach only its declared namespaces "
         "[prod Kustomization/phoenix-gitops-api-prepare]"),
        ("flux/kustomization-api-prepare.yaml", lambda o: o["spec"].update(targetNamespace="storefront"),
         "clusters/prod/flux/kustomization-api-prepare.yaml:23:3: error ISO-FLUX-ACCOUNT $.spec.targetNamespace: "
         "'storefront' is not a namespace overlays/prod/environment.yaml declares for api "
         "[prod Kustomization/phoenix-gitops-api-prepare]"),
        ("flux/rolebinding-api-api.yaml", lambda o: o["metadata"].update(namespace="kube-system"),
         "clusters/prod/flux/rolebinding-api-api.yaml:6:3: error ISO-FLUX-ACCOUNT $.metadata.namespace: a "
         "RoleBinding outside the namespaces overlays/prod/environment.yaml declares "
         "[prod RoleBinding/phoenix-gitops-api]"),
        ("flux/clusterrole-api-namespaces.yaml",
         lambda o: o["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}),
         "clusters/prod/flux/clusterrole-api-namespaces.yaml:28:3: error ISO-FLUX-ACCOUNT $.rules[2]: a ClusterRole "
         "of a Flux account may only name declared Namespace objects [prod ClusterRole/phoenix-gitops-api-namespaces]"),
        ("flux/clusterrolebinding-api-namespaces.yaml", lambda o: o["roleRef"].update(name="cluster-admin"),
         "clusters/prod/flux/clusterrolebinding-api-namespaces.yaml:10:1: error ISO-FLUX-ACCOUNT $.roleRef: "
         "'cluster-admin' is not a ClusterRole of these files; cluster-wide rights stop at the declared Namespace "
         "objects [prod ClusterRoleBinding/phoenix-gitops-api-namespaces]"),
    ],
    ids=["app-server", "app-project", "app-path", "app-automated", "project-dest", "project-wildcard-ns",
         "project-wildcard-repo", "default-project", "flux-path", "flux-kubeconfig", "project-undeclared-ns",
         "project-any-namespace-object", "app-undeclared-ns", "flux-no-account", "flux-target-ns", "rbac-binding-ns",
         "rbac-role-widened", "rbac-cluster-admin"],
)
def test_isolation_check_names_file_line_and_rule(rel, change, expected):
    assert tamper(rel, change) == [expected]


def test_a_missing_default_project_and_a_foreign_kind_are_refused():
    files = shipped_files("prod")
    del files["argocd/appproject-default.yaml"]
    files["argocd/appset.yaml"] = b"apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: all\n"
    repo = Repo(PROJECT)  # its gitops.yaml asks for the lock
    findings = [str(f) for f in check_isolation(repo.select_envs("all"), {"prod": files}, repo.settings())]
    assert findings == [
        "clusters/prod/argocd: error ISO-ARGO-DEFAULT-PROJECT no locked-down `default` AppProject among the "
        "bootstrap files [prod]",
        "clusters/prod/argocd/appset.yaml:2:1: error ISO-BOOTSTRAP-KIND $.kind: argoproj.io/v1alpha1 ApplicationSet "
        "does not belong among the bootstrap files [prod ApplicationSet/all]",
    ]


def test_two_envs_sharing_a_server_are_refused_by_the_isolation_check(fixture_repo):
    root = fixture_repo("minimal")
    dev = root / "overlays/dev/environment.yaml"
    same_as_prod = "https://PROD-1.k8s.example.org:6443/"  # prod's API server, spelled differently
    dev.write_text(dev.read_text().replace(SERVERS["dev"], same_as_prod))
    envs = Repo(root).select_envs("all")
    assert [str(f) for f in check_isolation(envs, {})] == [
        "overlays/prod/environment.yaml:4:1: error ISO-CLUSTER-DISTINCT $.server: "
        "'https://prod-1.k8s.example.org:6443' is also the server of environment dev (overlays/dev/environment.yaml); "
        "each environment must be its own cluster (V36) [prod]",
    ]
    result = run_program(["render", "all"], root)
    assert result.code == 1, result.stderr
    assert "overlays/prod/environment.yaml:4:1: error ISO-CLUSTER-DISTINCT $.server:" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree_bytes(root / "rendered") == {} and not (root / "clusters").exists()


def test_two_envs_naming_the_same_cluster_or_project_are_refused(fixture_repo):
    root = fixture_repo("minimal")
    prod = root / "overlays/prod/environment.yaml"
    text = prod.read_text().replace("cluster: prod-1", "cluster: dev-1").replace("phoenix-prod", "phoenix-dev")
    prod.write_text(text)
    messages = [str(f) for f in check_isolation(Repo(root).select_envs("all"), {})]
    assert [m.split(" $.")[0] for m in messages] == [
        "overlays/prod/environment.yaml:3:1: error ISO-CLUSTER-DISTINCT",
        "overlays/prod/environment.yaml:6:1: error ISO-CLUSTER-DISTINCT",
    ]
    assert "'dev-1' is also the cluster of environment dev" in messages[0]
    assert "'phoenix-dev' is also the Argo CD project of environment dev" in messages[1]


def test_bootstrap_files_of_an_unknown_environment_are_refused():
    files = shipped_files("prod")
    assert [str(f) for f in check_isolation(Repo(PROJECT).select_envs("all"), {"qa": files})] == [
        "clusters/qa: error ISO-BOOTSTRAP-ENV no environment 'qa' for these bootstrap files [qa]"]


def test_objects_as_generated_are_checked_without_lines():
    repo = Repo(PROJECT)
    env, settings = repo.environment("prod"), repo.settings()
    made = bootstrap.objects(env, settings, [bootstrap.AppInfo("api", ("api",), ())])
    assert check_isolation(repo.select_envs("all"), {"prod": made}) == []
    made["argocd/application-prod-api.yaml"]["spec"]["destination"]["server"] = SERVERS["dev"]
    assert [(f.rule, f.line) for f in check_isolation(repo.select_envs("all"), {"prod": made})] == [
        ("ISO-ARGO-DESTINATION", None)]
