"""POLICY-WEAKENED: what a change to the policy, an environment file or gitops.yaml loosens, against the merge-base.

Each test builds a small git repository (committed on `main`, then a branch `change` with the edit in the working
tree) and compares; one test runs `check` through the program.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import commit_all, git, run_program

from phoenix_gitops.rules import CATALOGUE, DEFAULT_POLICY
from phoenix_gitops.weakening import NOT_COMPARED, RULE, find_weakenings

POLICY = """\
environments:
  dev: dev
  staging: staging
  prod: prod
defaultProfile: prod
unsuppressible: [K8S-PRIVILEGED, K8S-HOST-ACCESS, PHX-V08]
rules:
  PHX-V18: {dev: "-", staging: warning, prod: {default: warning, cpu-hpa: error}}
  PHX-V28: {dev: "-", staging: warning, prod: error}
  PHX-V04: {dev: error, staging: error, prod: error}
settings:
  clusterScopedKinds: [Namespace]
  forbiddenKinds: [argoproj.io/Application, argoproj.io/AppProject]
  preProvisionedSecrets: ["db-*"]
  placeholderHosts: [example.com, localhost]
  secretNames: ["*_TOKEN", PASSWORD]
  networkPolicyTypes:
    dev: [Ingress]
    staging: [Ingress]
    prod: [Ingress, Egress]
  replicas:
    dev: {min: 1, max: 1, hpa: false}
    staging: {min: 2}
    prod: {min: 3}
  entropy: {base64Limit: 4.5, hexLimit: 3.0, minLength: 20}
  ingressNamespaces: [gateway-system]
  spreadTopologyKeys:
    dev: [kubernetes.io/hostname]
    staging: [topology.kubernetes.io/zone]
    prod: [topology.kubernetes.io/zone]
"""
PROD = """\
# The prod cluster.
name: prod
cluster: prod-1
server: https://prod-1.k8s.example.org:6443
kubernetesVersion: "1.34"
argocdProject: phoenix-prod
baseDomain: example.org
sync:
  automated: false
  prune: false
  selfHeal: true
  branch: deploy/prod
apps:
  api: {namespaces: [api]}
  web: {namespaces: [web, web-jobs]}
reservedNamespaces: [monitoring, "logging-*"]
"""
GITOPS = """\
repoURL: https://github.com/acme/phoenix-gitops.git
revision: main
argocd:
  namespace: argocd
flux:
  namespace: flux-system
  secretName: git-credentials
"""
POLICY_FILE, PROD_FILE, GITOPS_FILE = "schemas/policy.yaml", "overlays/prod/environment.yaml", "gitops.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """POLICY, PROD and GITOPS committed on `main`; the working tree on a new branch `change`."""
    root = tmp_path / "repo"
    for rel, text in ((POLICY_FILE, POLICY), (PROD_FILE, PROD), (GITOPS_FILE, GITOPS)):
        write(root, rel, text)
    commit_all(root, "platform files")
    git(root, "checkout", "-q", "-b", "change")
    return root


def write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text, encoding="utf-8")


def edit(root: Path, rel: str, old: str, new: str) -> None:
    text = (root / rel).read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    write(root, rel, text.replace(old, new))


def merge_base(root: Path) -> str:
    return git(root, "rev-parse", "main").strip()[:7]


def found(root: Path) -> list[str]:
    """Every finding as `path:line: severity message`, the merge-base's id written as `BASE` and the message's usual
    ending ` (merge-base BASE)` left out."""
    base = merge_base(root)
    results = find_weakenings(root, "main")
    assert {f.rule for f in results} <= {RULE}
    return [f"{f.path}:{f.line}: {f.severity} " + f.message.replace(base, "BASE").removesuffix(" (merge-base BASE)")
            for f in results]


# the policy ----------------------------------------------------------------------------------------------------


def test_a_lowered_severity_is_found_per_profile_and_per_condition_and_a_raised_one_is_not(repo):
    edit(repo, POLICY_FILE, 'PHX-V28: {dev: "-", staging: warning, prod: error}',
         "PHX-V28: {dev: warning, staging: warning, prod: warning}")
    edit(repo, POLICY_FILE, "prod: {default: warning, cpu-hpa: error}}", "prod: {default: error, cpu-hpa: info}}")
    assert found(repo) == [
        "schemas/policy.yaml:8: warning $.rules.PHX-V18.prod.cpu-hpa: severity lowered from error to info",
        "schemas/policy.yaml:9: warning $.rules.PHX-V28.prod: severity lowered from error to warning",
    ]


def test_a_conditional_severity_made_plain_compares_every_condition(repo):
    edit(repo, POLICY_FILE, "prod: {default: warning, cpu-hpa: error}}", "prod: warning}")
    assert found(repo) == [
        "schemas/policy.yaml:8: warning $.rules.PHX-V18.prod.cpu-hpa: severity lowered from error to warning"]


def test_a_rule_left_out_of_the_policy_falls_back_to_the_catalogue_default(repo):
    assert CATALOGUE["PHX-V04"].defaults == ("-", "warning", "error")
    edit(repo, POLICY_FILE, "  PHX-V04: {dev: error, staging: error, prod: error}\n", "")
    unlisted = "(not listed: the catalogue's default applies)"
    assert found(repo) == [
        f"schemas/policy.yaml:7: warning $.rules.PHX-V04.dev: severity lowered from error to - {unlisted}",
        f"schemas/policy.yaml:7: warning $.rules.PHX-V04.staging: severity lowered from error to warning {unlisted}",
    ]


def test_an_entry_removed_from_unsuppressible_names_the_rules_it_frees(repo):
    edit(repo, POLICY_FILE, "unsuppressible: [K8S-PRIVILEGED, K8S-HOST-ACCESS, PHX-V08]",
         "unsuppressible: [K8S-HOST-ACCESS, PHX-V08]")
    assert found(repo) == ["schemas/policy.yaml:6: warning $.unsuppressible: 'K8S-PRIVILEGED' removed: an annotation "
                           "may now suppress K8S-PRIVILEGED"]


def test_a_removed_pattern_names_the_first_rules_it_frees_and_counts_the_rest(repo):
    edit(repo, POLICY_FILE, "[K8S-PRIVILEGED, K8S-HOST-ACCESS, PHX-V08]", '["K8S-*"]')
    git(repo, "commit", "-q", "-am", "every K8S rule unsuppressible")
    git(repo, "branch", "-f", "main")
    edit(repo, POLICY_FILE, '["K8S-*"]', "[K8S-PROBES]")
    freed = sorted(i for i, r in CATALOGUE.items() if i.startswith("K8S-") and i != "K8S-PROBES" and r.suppressible)
    assert len(freed) > 6
    assert found(repo) == [f"schemas/policy.yaml:6: warning $.unsuppressible: 'K8S-*' removed: an annotation may now "
                           f"suppress {', '.join(freed[:5])} and {len(freed) - 5} more"]


def test_unsuppressible_entries_rewritten_as_a_pattern_or_a_reference_id_are_no_loss(repo):
    edit(repo, POLICY_FILE, "unsuppressible: [K8S-PRIVILEGED, K8S-HOST-ACCESS, PHX-V08]",
         'unsuppressible: ["K8S-*", V08]')
    assert found(repo) == []


def test_a_missing_unsuppressible_list_is_empty(repo):
    edit(repo, POLICY_FILE, "unsuppressible: [K8S-PRIVILEGED, K8S-HOST-ACCESS, PHX-V08]\n", "")
    freed = [line.split("may now suppress ")[1] for line in found(repo) if " $.unsuppressible: " in line]
    assert freed == ["K8S-HOST-ACCESS", "K8S-PRIVILEGED", "PHX-V08"]


def test_an_environment_on_a_weaker_profile_and_a_lower_default_profile(repo):
    edit(repo, POLICY_FILE, "  prod: prod\ndefaultProfile: prod", "  prod: staging\ndefaultProfile: dev")
    assert found(repo) == [
        "schemas/policy.yaml:4: warning $.environments.prod: environment prod moved from profile prod to the weaker "
        "staging",
        "schemas/policy.yaml:5: warning $.defaultProfile: lowered from prod to dev: every environment not listed under "
        "environments uses it",
    ]


def test_loosened_settings_are_found_at_their_lines(repo):
    edit(repo, POLICY_FILE, POLICY[POLICY.index("settings:"):], """\
settings:
  clusterScopedKinds: [Namespace, ClusterRole]
  forbiddenKinds: [argoproj.io/AppProject]
  preProvisionedSecrets: ["db-*", db-main, "*"]
  placeholderHosts: [localhost]
  secretNames: ["*TOKEN"]
  networkPolicyTypes:
    dev: [Ingress]
    staging: [Ingress]
    prod: [Ingress]
  replicas:
    dev: {min: 1, max: 1, hpa: false}
    staging: {}
    prod: {min: 2}
  entropy: {base64Limit: 5, hexLimit: 2.5, minLength: 30}
  ingressNamespaces: [gateway-system, monitoring]
  spreadTopologyKeys:
    dev: [kubernetes.io/hostname]
    staging: [topology.kubernetes.io/zone]
    prod: [topology.kubernetes.io/zone, kubernetes.io/hostname]
""")
    assert [line.removeprefix("schemas/policy.yaml:") for line in found(repo)] == [
        "12: warning $.settings.clusterScopedKinds[1]: 'ClusterRole' added: apps may now render this cluster-scoped "
        "kind",
        "13: warning $.settings.forbiddenKinds: 'argoproj.io/Application' removed: apps may now render this kind",
        "14: warning $.settings.preProvisionedSecrets[2]: '*' added: a Secret of this name is now taken to exist "
        "outside the repository",
        "15: warning $.settings.placeholderHosts: 'example.com' removed: PHX_HOST may now be this placeholder",
        "16: warning $.settings.secretNames: 'PASSWORD' removed: values under this name are no longer treated as "
        "secrets",
        "20: warning $.settings.networkPolicyTypes.prod: 'Egress' removed: NetworkPolicies no longer need to cover "
        "these policy types",
        "23: warning $.settings.replicas.staging.min: minimum replica count lowered from 2 to none",
        "24: warning $.settings.replicas.prod.min: minimum replica count lowered from 3 to 2",
        "25: warning $.settings.entropy.base64Limit: raised from 4.5 to 5: fewer base64 strings count as secrets",
        "25: warning $.settings.entropy.minLength: raised from 20 to 30: shorter strings are no longer examined",
        "26: warning $.settings.ingressNamespaces[1]: 'monitoring' added: port http of every app may now be opened to "
        "this namespace",
        "30: warning $.settings.spreadTopologyKeys.prod[1]: 'kubernetes.io/hostname' added: spreading over this "
        "topology key now suffices",
    ]


def test_a_deleted_policy_is_compared_with_the_tool_default(repo):
    default = DEFAULT_POLICY.read_text(encoding="utf-8")
    stricter = default.replace('PHX-V04: {dev: "-",', "PHX-V04: {dev: error,")
    assert stricter != default
    write(repo, POLICY_FILE, stricter)
    git(repo, "commit", "-q", "-am", "a stricter policy")
    git(repo, "branch", "-f", "main")
    (repo / POLICY_FILE).unlink()
    assert found(repo) == ["schemas/policy.yaml:None: warning $.rules.PHX-V04.dev: severity lowered from error to - "
                           "(merge-base BASE; schemas/policy.yaml deleted: the tool default "
                           "phoenix_gitops/data/policy.yaml applies)"]


def test_the_merge_base_policy_sets_the_severity_and_the_change_cannot_lower_it(repo):
    rules = "rules:\n  POLICY-WEAKENED: {dev: warning, staging: warning, prod: error}\n"
    edit(repo, POLICY_FILE, "rules:\n", rules)
    git(repo, "commit", "-q", "-am", "weakening blocks prod")
    git(repo, "branch", "-f", "main")
    edit(repo, POLICY_FILE, "staging: warning, prod: error}\n  PHX-V18", 'staging: warning, prod: "-"}\n  PHX-V18')
    edit(repo, PROD_FILE, "  automated: false", "  automated: true")
    assert found(repo) == [  # both in profile prod at the merge-base (the policy's findings: defaultProfile prod)
        "overlays/prod/environment.yaml:9: error $.sync.automated: loosened from false to true: every merged commit "
        "now syncs without a person starting it",
        "schemas/policy.yaml:8: error $.rules.POLICY-WEAKENED.prod: severity lowered from error to -",
    ]


# environment files ---------------------------------------------------------------------------------------------


def test_environment_file_weakenings_each_at_its_line(repo):
    write(repo, PROD_FILE, """\
# The prod cluster.
name: prod
cluster: prod-2
server: https://prod-2.k8s.example.org:6443
kubernetesVersion: "1.34"
argocdProject: phoenix-prod
baseDomain: example.org
sync:
  automated: true
  selfHeal: true
apps:
  api: {namespaces: [api, kube-system]}
  web: {namespaces: [web]}
  worker: {namespaces: [worker]}
reservedNamespaces: ["logging-*"]
""")
    assert [line.removeprefix("overlays/prod/environment.yaml:") for line in found(repo)] == [
        "3: warning $.cluster: changed from prod-1 to prod-2: the environment now points at another cluster",
        "4: warning $.server: changed from https://prod-1.k8s.example.org:6443 to https://prod-2.k8s.example.org:6443: "
        "the environment now points at another cluster",
        "8: warning $.sync.prune: removed (was false; the default is true): objects that leave the rendered output "
        "are now deleted from the cluster",
        "8: warning $.sync: removed (was deploy/prod): the environment now deploys commits that were not promoted to "
        "it",
        "9: warning $.sync.automated: loosened from false to true: every merged commit now syncs without a person "
        "starting it",
        "12: warning $.apps.api.namespaces[1]: namespace 'kube-system' added for app api, which had [api]",
        "14: warning $.apps.worker.namespaces[0]: namespace 'worker' added for app worker, a new app",
        "15: warning $.reservedNamespaces: 'monitoring' removed: apps may now use it",
    ]


def test_a_new_environment_file_adds_every_namespace_of_its_apps(repo):
    staging = PROD.replace("prod", "staging").replace("[api]", "[api, api-jobs]")
    write(repo, "overlays/staging/environment.yaml", staging)
    new = "a new app in a new environment"
    assert [line.removeprefix("overlays/staging/environment.yaml:") for line in found(repo)] == [
        "4: warning $.server: a new environment: cluster staging-1 at https://staging-1.k8s.example.org:6443",
        f"14: warning $.apps.api.namespaces[0]: namespace 'api' added for app api, {new}",
        f"14: warning $.apps.api.namespaces[1]: namespace 'api-jobs' added for app api, {new}",
        f"15: warning $.apps.web.namespaces[0]: namespace 'web' added for app web, {new}",
        f"15: warning $.apps.web.namespaces[1]: namespace 'web-jobs' added for app web, {new}",
    ]


# gitops.yaml ---------------------------------------------------------------------------------------------------


def test_gitops_settings_weakenings(repo):
    write(repo, GITOPS_FILE, """\
repoURL: https://github.com/someone/fork.git
revision: experiment
argocd:
  namespace: argocd
flux:
  namespace: flux-elsewhere
""")
    assert [line.removeprefix("gitops.yaml:") for line in found(repo)] == [
        "1: warning $.repoURL: changed from https://github.com/acme/phoenix-gitops.git to "
        "https://github.com/someone/fork.git: Argo CD and Flux now sync another repository",
        "2: warning $.revision: changed from main to experiment: the clusters now follow another branch",
        "5: warning $.flux.secretName: removed (was git-credentials): Flux now fetches the repository without "
        "credentials",
        "6: warning $.flux.namespace: changed from flux-system to flux-elsewhere: the sync engine's objects move to "
        "another namespace",
    ]


# what is no weakening ------------------------------------------------------------------------------------------


def test_tightening_changes_and_unchanged_files_find_nothing(repo):
    assert found(repo) == []
    tighter = (
        (POLICY_FILE, 'PHX-V28: {dev: "-",', "PHX-V28: {dev: error,"),
        (POLICY_FILE, "unsuppressible: [K8S-PRIVILEGED,", "unsuppressible: [K8S-PROBES, K8S-PRIVILEGED,"),
        (POLICY_FILE, "  staging: staging\n", "  staging: prod\n"),
        (POLICY_FILE, "forbiddenKinds: [", "forbiddenKinds: [rbac.authorization.k8s.io/ClusterRole, "),
        (POLICY_FILE, 'preProvisionedSecrets: ["db-*"]', 'preProvisionedSecrets: [db-main]'),
        (POLICY_FILE, "prod: {min: 3}", "prod: {min: 4}"),
        (POLICY_FILE, "base64Limit: 4.5", "base64Limit: 4.0"),
        (PROD_FILE, "[web, web-jobs]", "[web]"),
        (PROD_FILE, "  selfHeal: true\n", "  selfHeal: false\n"),
        (PROD_FILE, '[monitoring, "logging-*"]', '[monitoring, "logging-*", "tracing-*"]'),
    )
    for rel, old, new in tighter:
        edit(repo, rel, old, new)
    edit(repo, GITOPS_FILE, "  namespace: argocd\n", "")  # the default is the same namespace
    assert found(repo) == []


# no comparison -------------------------------------------------------------------------------------------------


def test_outside_a_git_checkout_one_info_finding_says_nothing_was_compared(tmp_path):
    write(tmp_path, POLICY_FILE, POLICY)
    results = find_weakenings(tmp_path, "main")
    assert [(f.rule, f.severity, f.message) for f in results] == [
        (RULE, "info", f"not a git checkout: {NOT_COMPARED}")]


def test_without_git_one_info_finding_says_so(repo, monkeypatch):
    monkeypatch.setenv("PATH", str(repo / "no-such-folder"))
    assert [(f.severity, f.message) for f in find_weakenings(repo, "main")] == [
        ("info", f"git not found: install git to compare revisions or read history: {NOT_COMPARED}")]


def test_without_the_base_branch_one_info_finding_says_so(repo):
    results = find_weakenings(repo, "release")
    assert [(f.severity, f.message) for f in results] == [
        ("info", f"bad revision 'release': no branch 'release' or 'origin/release' to take the merge-base with: "
                 f"{NOT_COMPARED}")]


def test_the_merge_base_is_taken_with_origin_when_there_is_no_local_branch(repo):
    git(repo, "update-ref", "refs/remotes/origin/trunk", "main")
    edit(repo, PROD_FILE, "[api]", "[api, api-two]")
    results = find_weakenings(repo, "trunk")
    assert [(f.line, f.severity) for f in results] == [(14, "warning")]


def test_a_file_that_is_not_yaml_is_an_info_finding_not_a_silent_pass(repo):
    write(repo, PROD_FILE, PROD.replace("  api: {namespaces: [api]}", "  api: {namespaces: [api]"))
    assert found(repo) == [f"{PROD_FILE}:15: info {PROD_FILE}: while parsing a flow mapping expected ',' or '}}', "
                           f"but got '<scalar>': {NOT_COMPARED}"]


def test_a_merge_base_file_that_is_not_yaml_is_named_with_its_commit(repo):
    write(repo, GITOPS_FILE, "repoURL: [unclosed\n")
    git(repo, "commit", "-q", "-am", "broken settings")
    git(repo, "branch", "-f", "main")
    write(repo, GITOPS_FILE, GITOPS)
    assert found(repo) == ["gitops.yaml:None: info gitops.yaml at the merge-base BASE: while parsing a flow sequence "
                           f"expected ',' or ']', but got '<stream end>': {NOT_COMPARED}"]


# the command line ----------------------------------------------------------------------------------------------


def test_check_reports_the_weakening_at_its_line_and_keeps_its_exit_code(fixture_repo):
    root = fixture_repo("minimal")
    outside = run_program(["check"], root)
    assert outside.code == 0, outside.stdout + outside.stderr
    assert outside.stdout.split("check summary")[0] == f".: info {RULE} not a git checkout: {NOT_COMPARED}\n"
    commit_all(root, "minimal")
    git(root, "checkout", "-q", "-b", "change")
    clean = run_program(["check"], root)
    assert (clean.code, clean.stdout.split("check summary")[0]) == (0, "")
    edit(root, "overlays/prod/environment.yaml", "hello: {namespaces: [hello]}", "hello: {namespaces: [hello, batch]}")
    weakened = run_program(["check"], root)
    assert weakened.code == 0, weakened.stdout + weakened.stderr
    assert weakened.stdout.split("check summary")[0] == (
        f"overlays/prod/environment.yaml:9:31: warning {RULE} $.apps.hello.namespaces[1]: namespace 'batch' added for "
        f"app hello, which had [hello] (merge-base {merge_base(root)})\n")


def test_argo_cd_windows_roles_and_the_default_project_lock(repo):
    write(repo, PROD_FILE, PROD + """\
argocd:
  syncWindows:
    - {kind: deny, schedule: "0 18 * * 5", duration: 62h}
    - {kind: deny, schedule: "0 0 24 12 *", duration: 48h}
  roles:
    - {name: deployer, groups: [oncall], actions: [get, sync]}
""")
    edit(repo, GITOPS_FILE, "  namespace: argocd\n", "  namespace: argocd\n  lockDefaultProject: true\n")
    commit_all(repo, "windows, a role and the lock")
    git(repo, "branch", "-f", "main", "HEAD")
    assert found(repo) == []
    edit(repo, PROD_FILE, '    - {kind: deny, schedule: "0 18 * * 5", duration: 62h}\n', "")
    edit(repo, PROD_FILE, '"0 0 24 12 *", duration: 48h}', '"0 0 24 12 *", duration: 48h, manualSync: true}')
    edit(repo, PROD_FILE, "groups: [oncall], actions: [get, sync]}",
         "groups: [oncall, everyone], actions: [get, sync, delete]}\n    - {name: ops, groups: [ops], actions: [sync]}")
    edit(repo, GITOPS_FILE, "  lockDefaultProject: true\n", "")
    assert [line.split(": warning ", 1)[1] for line in found(repo)] == [
        "$.argocd.lockDefaultProject: the lock of Argo CD's `default` project is no longer generated: Applications "
        "may land in it",
        "$.argocd.syncWindows: deny window '0 18 * * 5' for 62h removed: Argo CD syncs at times it did not",
        "$.argocd.syncWindows[0].manualSync: deny window '0 0 24 12 *' for 48h now allows manual syncs",
        "$.argocd.roles[0].groups: 'everyone' added to role 'deployer'",
        "$.argocd.roles[0].actions: 'delete' added to role 'deployer'",
        "$.argocd.roles[1]: a new role 'ops': its groups may sync the environment's Applications",
    ]
