"""The catalogue entries of findings that pipeline stages raise: the YAML loader, the source check, the build,
schema validation, the policy loader and `render`'s check of the bootstrap manifests.

They run in their stage (`check=None` here) and are documented here, so that every ID a report can carry has a
docs/rules.md section, a severity per environment and a SARIF description. None is suppressible (each is about a
file, a build or a generated manifest, not a rendered resource). All but `YAML-AMBIGUOUS` stop their stage and
are errors whatever the policy says; the policy may tune `YAML-AMBIGUOUS` (see `policy.retune`).

Usage:
    from phoenix_gitops.rules import CATALOGUE
    CATALOGUE["KUSTOMIZE-BUILD"].stage      # 'the build (kustomize)'
    CATALOGUE["YAML-AMBIGUOUS"].tunable     # True
"""
from __future__ import annotations

from ..own_schemas import shown
from ..yamlio import MAX_BYTES, MAX_DEPTH
from .registry import document

__all__: list[str] = []

_LOADER = "the YAML loader, on every file before anything else reads it"
_SOURCES = "the source check, before kustomize runs"
_LAYOUT = "the repository layout, before any overlay is read"
_BUILD = "the build (kustomize)"
_SCHEMAS = "schema validation of every rendered resource"
_BOOTSTRAP = "`render`'s isolation check of the bootstrap manifests it generates, before anything is written"
_GENERATOR = "`render`, while it generates the bootstrap manifests, before anything is written"
_POLICY = "the policy loader (no rule runs while the policy file is invalid)"

_MIB = MAX_BYTES // (1024 * 1024)

# YAML files ---------------------------------------------------------------------------------------------------

document(
    "YAML-SYNTAX", family="yaml", stage=_LOADER,
    title="Every file is well-formed YAML",
    why="""A file that does not parse cannot be checked, and kustomize, kubectl and Argo CD each fail on it in their
    own way (or, for kustomize's output, the check cannot read what the build printed).""",
    fix="""Correct the syntax at the line named: indentation, a missing `:` or closing quote, a tab used for
    indentation, a document that is not a mapping.""",
)
document(
    "YAML-DUPLICATE-KEY", family="yaml", stage=_LOADER,
    title="No key twice in one mapping",
    why="""YAML readers disagree on a repeated key: most keep the last value without a word, some refuse the file.
    A reviewer reads one `image:` or `replicas:` and the cluster gets the other.""",
    fix="Keep one of the two keys (the message names the line of the first).",
)
document(
    "YAML-ALIAS", family="yaml", stage=_LOADER,
    title="No anchors or aliases",
    why="""Aliases (`&name` ... `*name`) expand exponentially when nested (the "billion laughs" attack) and show a
    reviewer a name instead of the value the cluster receives; kustomize does not keep them through patches.""",
    fix="""Write the value out where it is used; share values between files with a base, a component or
    `replacements`.""",
)
document(
    "YAML-TAG", family="yaml", stage=_LOADER,
    title="Only plain YAML values, no tags",
    why="""An explicit tag (`!!python/object`, `!!binary`, `!Ref`) makes some loaders build objects or run code,
    and every tool reads it differently; Kubernetes objects are plain JSON.""",
    fix="Remove the tag and write the value as a plain string, number, boolean, list or mapping.",
)
document(
    "YAML-MERGE-KEY", family="yaml", stage=_LOADER,
    title="No merge keys (`<<`)",
    why="""Merge keys are a YAML 1.1 extension that YAML 1.2 readers handle differently or not at all; the fields
    they add do not appear in the file a reviewer reads.""",
    fix="Write the merged fields out in the mapping.",
)
document(
    "YAML-KEY", family="yaml", stage=_LOADER,
    title="Mapping keys are plain strings",
    why="""Kubernetes objects have string keys only. A key that YAML reads as a number, a boolean, null or a
    collection (`1:`, `true:`, `? [a, b]`) becomes a different key, or an error, in each tool's JSON.""",
    fix="Quote the key.",
)
document(
    "YAML-NUMBER", family="yaml", stage=_LOADER,
    title="Numbers are finite and exact",
    why="""Kubernetes decodes numbers as JSON: an integer beyond ±2^53 loses precision, `.inf` and `.nan` are not
    JSON at all, so the cluster would store a different value than the file says (or refuse it).""",
    fix="Quote the value if it is meant as a string; otherwise write a number in range.",
)
document(
    "YAML-DEPTH", family="yaml", stage=_LOADER,
    title=f"Nesting of at most {MAX_DEPTH} levels",
    why="""Deeply nested input crashes C-based YAML loaders (a stack overflow) and exhausts Python's recursion;
    no manifest needs it, so the loader stops before it.""",
    fix="Flatten the structure.",
)
document(
    "YAML-SIZE", family="yaml", stage=_LOADER,
    title=f"Source files of at most {_MIB} MiB",
    why="""An oversized file slows every check of every pull request down and is a denial of service on the
    loader; Argo CD caps what a directory application may hold anyway. kustomize's output per overlay has its
    own, larger cap.""",
    fix="Split the file, or keep large data (a generated ConfigMap's input) out of the repository.",
)
document(
    "YAML-ENCODING", family="yaml", stage=_LOADER,
    title="UTF-8 without a byte order mark",
    why="""kubectl, kustomize and Argo CD read UTF-8; a byte order mark or another encoding changes the first key
    or garbles values on the way to the cluster.""",
    fix="Save the file as UTF-8 without BOM.",
)
document(
    "YAML-CONTROL-CHAR", family="yaml", stage=_LOADER,
    title="No control or bidirectional characters",
    why="""Invisible characters (C0 and C1 controls, line and paragraph separators, bidirectional overrides as in
    "Trojan Source") make a file show a reviewer something other than what the tools read.""",
    fix="Delete the character at the position named (the message gives its code point).",
)
document(
    "YAML-READ", family="yaml", stage=_LOADER,
    title="Every file the build needs can be read",
    why="A file that cannot be read (permissions, a folder where a file is expected) cannot be checked or built.",
    fix="Fix the file's permissions or the path that names it.",
)
document(
    "YAML-AMBIGUOUS", family="yaml", stage="the source check, on every file an overlay reads",
    tunable=True,
    title="Plain values mean the same to YAML 1.1 and 1.2 readers",
    why="""kubectl, Argo CD and Flux read YAML with YAML 1.1 rules in places (go-yaml v2): an unquoted `on`,
    `yes` or `n` becomes a boolean there, `0755` an octal number and `1:30` a sexagesimal one, while kustomize and
    this tool read a string or a decimal. The same file then means two things.""",
    fix="Quote the value (`\"on\"`, `\"0755\"`).",
    interpretation="""While it is an error the overlay is not built (like every source error). The policy may make
    it a warning or `-` for an environment; the build then goes ahead.""",
)

# Sources and repository layout --------------------------------------------------------------------------------

document(
    "SRC-KUSTOMIZATION", family="sources", stage=_SOURCES,
    title="Kustomization files match the schema",
    why="""kustomize skips fields it does not know and reads some misspelt ones as something else: a
    `patchesStrategicMerg:` silently drops every patch. The schema lists what this repository's overlays use.""",
    fix=f"""Correct the field at the line named (`{shown("kustomization")}`); a kustomization file holds exactly one
    YAML mapping.""",
)
document(
    "SRC-MISSING", family="sources", stage=_SOURCES,
    title="Every file and folder a kustomization names exists",
    why="""A missing resource, patch, component or generator input fails the build later with less context, or
    (a folder without a kustomization) is not what the reviewer thinks it is.""",
    fix="Create the file or folder, or correct the path at the line named.",
)
document(
    "SRC-PATH", family="sources", stage=f"{_SOURCES}; and {_LAYOUT}",
    title="Paths stay inside the repository",
    why="""An absolute path, a `..` leading out of the repository or a symlink pointing out of it makes the build
    read files nobody reviews, that differ from machine to machine, and that may be the CI host's secrets.""",
    fix="Use a path relative to the kustomization, inside the repository; replace the symlink by the file.",
)
document(
    "SRC-REMOTE", family="sources", stage=_SOURCES,
    title="No remote bases or resources",
    why="""A remote base (a git URL, `?ref=`, `https://`) makes every build reach the network: it is not
    reproducible, its content is not part of the pull request, and whoever controls it changes every cluster.""",
    fix="Vendor the remote content into the repository (a base under `base/`) and reference it by path.",
)
document(
    "SRC-HELM", family="sources", stage=_SOURCES,
    title="No Helm charts inside kustomizations",
    why="""`helmCharts` makes kustomize fetch a chart and run `helm template` during the build: network access,
    templates nobody reviewed in the pull request, output that changes with the chart repository.""",
    fix="Render the chart once (`helm template`), commit the output as a base, and review its updates as diffs.",
)
document(
    "SRC-PLUGIN", family="sources", stage=_SOURCES,
    title="No kustomize plugins besides the built-in transformers and generators",
    why="""`generators`, `transformers` and `validators` may run plugin code (executables, containers, Go plugins,
    KRM functions) during the build. The tool never executes code from the repository it checks.""",
    fix="""Use kustomize's built-in fields (`patches`, `replacements`, `configMapGenerator`, `images`, ...) or a
    built-in plugin configuration (`apiVersion: builtin`, e.g. `kind: NamespaceTransformer`) in a file or inline
    under `transformers:`/`generators:`.""",
    interpretation="""Accepted under `transformers:` and `generators:`: files or inline documents whose every
    document has `apiVersion: builtin`, a kind among AnnotationsTransformer, ConfigMapGenerator, HashTransformer,
    ImageTagTransformer, LabelTransformer, NamespaceTransformer, PatchJson6902Transformer,
    PatchStrategicMergeTransformer, PatchTransformer, PrefixSuffixTransformer, PrefixTransformer,
    SuffixTransformer, ReplacementTransformer and ReplicaCountTransformer, and no KRM function annotation; the
    files they name (patches, generator inputs, replacement sources) are checked like those of a kustomization.
    Refused: `validators`, any other apiVersion or kind (exec, container and Go plugins,
    `config.kubernetes.io/function`), a folder of plugin configurations, a built-in SecretGenerator (write the
    kustomization's `secretGenerator:`, whose literals and inputs the secret checks read) and
    HelmChartInflationGenerator (SRC-HELM).
    kustomize itself runs without `--enable-alpha-plugins`, so it would refuse them too.""",
)
document(
    "SRC-ENVIRONMENT", family="sources", stage=_LAYOUT,
    title="Environment files match the schema and their folder",
    why="""`overlays/<env>/environment.yaml` says which cluster an environment is: its API server, the Kubernetes
    version its manifests are validated against, its Argo CD project. A mistake there validates against the wrong
    version or points the generated bootstrap manifests at the wrong cluster.""",
    fix=f"""Correct the field at the line named (`{shown("environment")}`); `name` must equal the folder
    name.""",
)
document(
    "SRC-SETTINGS", family="sources", stage=_LAYOUT,
    title="gitops.yaml exists, matches the schema and holds no credentials",
    why="""The generated Argo CD Applications and Flux GitRepositories take the repository URL and revision from
    `gitops.yaml`; credentials in that URL would be written into committed manifests and CI logs.""",
    fix=f"""Create or correct `gitops.yaml` (`{shown("gitops")}`); remove credentials from `repoURL` and give
    Argo CD a repository secret and Flux `flux.secretName`.""",
)
document(
    "LAYOUT-NAME", family="sources", stage=_LAYOUT,
    title="App folder names are DNS labels",
    why="""An app's folder name becomes part of Kubernetes object names, of the Argo CD Application
    `<env>-<app>` and of the path under `rendered/`; capitals, dots or underscores are invalid there.""",
    fix="Rename the folder: lowercase letters, digits and dashes, starting with a letter, at most 63 characters.",
)
document(
    "LAYOUT-ENV-FILE", family="sources", stage=_LAYOUT,
    title="Every folder under overlays/ is an environment with its environment file",
    why="""An environment folder whose `environment.yaml` is missing or misnamed (`environment.yml`) would simply
    not be an environment: `check` and `render --check` would pass without looking at it, while the cluster goes
    on syncing whatever `rendered/<env>` holds.""",
    fix="""Name the file `overlays/<env>/environment.yaml`, or move the folder out of `overlays/` if it is not an
    environment.""",
)
document(
    "LAYOUT-ORPHAN", family="sources", stage=_LAYOUT,
    title="Every folder under rendered/ and clusters/ belongs to an environment and app",
    why="""`rendered/<env>/<app>` and `clusters/<env>` are what the clusters sync. A folder left there after its
    environment or app overlay was removed or renamed is synced unchecked, and a hand-edited one would never be
    compared again.""",
    fix="""Run `invoke render <env>` (it removes the folders of apps that are gone); for an environment that is
    gone, delete `rendered/<env>` and `clusters/<env>` in the same pull request.""",
)

# Builds and schemas -------------------------------------------------------------------------------------------

document(
    "KUSTOMIZE-BUILD", family="build", stage=_BUILD,
    title="Every overlay builds",
    why="""What kustomize cannot build, Argo CD and Flux cannot sync: the cluster silently keeps its old state
    while the repository says otherwise.""",
    fix="""The message carries kustomize's own error (its first lines); reproduce it with
    `kubectl kustomize overlays/<env>/<app>`.""",
)
document(
    "K8S-SCHEMA", family="build", stage=_SCHEMAS,
    title="Resources match the strict schema of their cluster's Kubernetes version",
    why="""The API server rejects an invalid object at sync time, or (without strict field validation) drops an
    unknown field silently: a misspelt `replicsa:` is lost without a word. The strict schemas refuse unknown
    fields, so the typo is found in the pull request, at its source line.""",
    fix="""Correct the field at the line named. Kubernetes kinds are checked against the schemas of the version
    the environment file declares; CRD kinds against `phoenix_gitops/data/schemas/crds/`.""",
)
document(
    "K8S-SHAPE", family="build", stage=_SCHEMAS,
    title="Every resource has an apiVersion and a kind",
    why="Without them no tool knows what the object is: kubectl, Argo CD and Flux refuse it.",
    fix="Add `apiVersion` and `kind` to the resource.",
)
document(
    "K8S-UNKNOWN-KIND", family="build", stage=_SCHEMAS,
    title="Every Kubernetes kind and apiVersion is served by the cluster's Kubernetes version",
    why="""An apiVersion the cluster no longer serves (a removed beta API such as `policy/v1beta1`) or a kind that
    does not exist in a Kubernetes API group (a typo) fails at sync time. The same holds for a version of a custom
    resource that its bundled CRD does not serve.""",
    fix="""Use the apiVersion the message names (it also says which release removed the old one, when the bundled
    schemas tell); correct the kind's spelling.""",
    interpretation="""An API group belongs to Kubernetes when it has no dot (`apps`, `extensions`) or a bundled
    Kubernetes version serves it (`networking.k8s.io`); a kind of any other group without a schema is a custom
    resource, reported as K8S-UNKNOWN-CRD. The other resources of the build are still validated and the rules
    still run.""",
)
document(
    "K8S-UNKNOWN-CRD", family="build", stage=_SCHEMAS, tunable=True, defaults=("warning", "warning", "warning"),
    title="Every custom resource kind has a CRD schema",
    why="""A custom resource (cert-manager's `Certificate`, external-dns's `DNSEndpoint`, ...) whose CRD has no
    schema here cannot be validated: a misspelt field in it reaches the cluster unnoticed. The rest of the build
    is still validated and the rules still run; this warning says what was not checked.""",
    fix="""Add the CRD's schema: `invoke crd-schemas --add FILE_OR_DIR` with the CRD manifest (or a folder of
    them) in a source checkout of this tool; it converts them into `phoenix_gitops/data/schemas/crds/`, next to
    the bundled ones, and records them in `added.json` there.""",
    interpretation="""One finding per kind and overlay, at its first resource, with the number of resources it
    covers. A kind of a Kubernetes API group is never taken for a custom resource (K8S-UNKNOWN-KIND).""",
)
document(
    "LINT-NO-OBJECTS", family="sources", stage="`lint`, for each PATH it is given",
    title="A linted file or folder holds Kubernetes objects",
    why="""`lint` checks what a PATH holds; a folder without manifests (a typo in the path, templates of another
    tool, an empty file) would otherwise pass without anything having been checked.""",
    fix="""Name the file or folder that holds the manifests (YAML documents with `apiVersion` and `kind`) or a
    kustomization; render templates (Helm, Jsonnet, ...) first and lint the output.""",
)
document(
    "K8S-VERSION", family="build", stage=_SCHEMAS,
    title="Schemas exist for the cluster's Kubernetes version",
    why="Without the schemas of the version a cluster runs, nothing rendered for that environment can be validated.",
    fix="""Set `kubernetesVersion` in the environment file to a version the message lists, or update the pinned
    `kubernetes-validate` package.""",
)

# Bootstrap manifests --------------------------------------------------------------------------------------------

document(
    "ISO-ARGO-PROJECT", family="bootstrap", stage=_BOOTSTRAP,
    title="Argo CD Applications use their environment's project",
    why="""The AppProject is what limits an Application to one cluster and one repository: an Application in
    another environment's project may deploy to that environment's cluster.""",
    fix="Set `argocdProject` in the environment file; the generated Application and AppProject follow it.",
)
document(
    "ISO-ARGO-DESTINATION", family="bootstrap", stage=_BOOTSTRAP,
    title="Argo CD destinations are the environment's own cluster",
    why="""A destination naming another API server deploys one environment's manifests to another cluster. A
    destination `name` can be re-pointed in Argo CD's cluster secrets, so only the server URL counts.""",
    fix="Set `server` (and `cluster`) in the environment file; the generated destinations follow it.",
)
document(
    "ISO-ARGO-SOURCE", family="bootstrap", stage=_BOOTSTRAP,
    title="Argo CD sources are this repository's rendered/<env>/",
    why="""An Application that reads another repository or a path outside `rendered/<env>/` syncs manifests that
    `invoke check` never saw.""",
    fix="Set `repoURL` in `gitops.yaml`; the generated sources follow it and `rendered/<env>/<app>`.",
)
document(
    "ISO-ARGO-WILDCARD", family="bootstrap", stage=_BOOTSTRAP,
    title="No wildcards in the environment's AppProject",
    why="""A pattern in `sourceRepos`, `destinations` or `clusterResourceWhitelist` lets anyone who can create an
    Application in the project deploy anything, anywhere.""",
    fix="List this repository, the environment's server and the allowed cluster-scoped kinds by name.",
)
document(
    "ISO-ARGO-DEFAULT-PROJECT", family="bootstrap", stage=_BOOTSTRAP,
    title="Argo CD's default project is locked",
    why="""The `default` AppProject allows every source and destination: an Application that names it (or omits
    `project`) escapes the environment's restrictions.""",
    fix="Keep the generated `appproject-default.yaml`: no `sourceRepos`, no `destinations`.",
)
document(
    "ISO-ARGO-SYNC", family="bootstrap", stage=_BOOTSTRAP,
    title="Automated sync follows the environment's sync policy",
    why="""The environment file's `sync` says whether changes apply by themselves and whether pruning may delete
    objects; an Application that automates more acts on a cluster whose owners asked to act by hand.""",
    fix="Set `sync` in the environment file; the generated Applications follow it.",
)
document(
    "ISO-FLUX-PATH", family="bootstrap", stage=_BOOTSTRAP,
    title="Flux Kustomizations apply only rendered/<env>/",
    why="""A Flux Kustomization whose `path` leaves `./rendered/<env>/` applies manifests that `invoke check`
    never saw, or another environment's.""",
    fix="Keep the generated `kustomization-<app>.yaml`; its path is `./rendered/<env>/<app>`.",
)
document(
    "ISO-FLUX-CLUSTER", family="bootstrap", stage=_BOOTSTRAP,
    title="Flux Kustomizations apply to their own cluster",
    why="""`spec.kubeConfig` makes Flux apply to a remote cluster with credentials from a Secret: one
    environment's Flux would change another environment's cluster.""",
    fix="Remove `kubeConfig`; bootstrap Flux in every cluster instead.",
)
document(
    "ISO-FLUX-ACCOUNT", family="bootstrap", stage=_BOOTSTRAP,
    title="Flux applies each app as its own account, only into its declared namespaces",
    why="""Without `serviceAccountName` the kustomize-controller applies with its own cluster-admin rights, so an
    app's rendered output could write anywhere in the cluster. Impersonating a per-app account whose RoleBindings
    exist only in the namespaces the environment file declares makes the cluster refuse everything else.""",
    fix="""Keep the generated `kustomization-<app>.yaml`, `serviceaccount-<app>.yaml` and RBAC files; a new
    namespace for an app is declared in the environment file.""",
)
document(
    "ISO-BOOTSTRAP-KIND", family="bootstrap", stage=_BOOTSTRAP,
    title="Only Argo CD and Flux objects (and the Flux accounts' RBAC) among the bootstrap files",
    why="""`clusters/<env>/` is applied with cluster-admin rights when a cluster is bootstrapped; any other object
    there would bypass every check the app overlays pass.""",
    fix="Move the object into an app overlay (where it is checked) or into the platform's own repository.",
)
document(
    "ISO-BOOTSTRAP-ENV", family="bootstrap", stage=_BOOTSTRAP,
    title="Bootstrap files belong to a known environment",
    why="""Bootstrap files for a cluster without an `overlays/<env>/environment.yaml` describe a cluster that no
    check knows: its server, project and sync policy are unchecked.""",
    fix="Add the environment file, or remove the cluster's bootstrap files.",
)
document(
    "BOOT-NAME", family="bootstrap", stage=_GENERATOR,
    title="Generated object names fit in 63 characters",
    why="""The generated names (Application `<namePrefix><env>-<app>`, Kustomizations `<namePrefix><app>-prepare`
    and `-release`, Provider and Alert `<namePrefix><notification>`) are also label values, which Kubernetes limits
    to 63 characters: a longer name is refused when the cluster is bootstrapped.""",
    fix="Shorten the environment, app or notification name, or `namePrefix` in `gitops.yaml`.",
)

# Policy ---------------------------------------------------------------------------------------------------------

document(
    "POLICY-FILE", family="policy", stage=_POLICY,
    title="The policy file is valid",
    why="""The severities and settings every rule reads come from the policy; a typo there (an unknown rule ID, a
    severity that does not exist, a condition the rule does not have, a severity for a finding that stops its stage)
    would silently change what is checked.""",
    fix=f"""Correct the file at the line named; it must match `{shown("policy")}`, name only catalogue rules and
    only their conditions, and leave out the findings whose severity is fixed.""",
)
document(
    "POLICY-WEAKENED", family="policy", tunable=True, defaults=("warning", "warning", "warning"),
    stage="`check`, comparing the platform-owned files with the merge-base of HEAD and the base branch",
    title="Changes that weaken the platform's files are pointed out",
    why="""The policy, the environment files and `gitops.yaml` decide what every check enforces and what each
    cluster accepts. A pull request that lowers a severity, makes a rule suppressible, gives an app another
    namespace, automates a sync or points an environment at another cluster changes what a green check means from
    then on; the change is shown at its line so that the review sees it (CODEOWNERS asks the platform team).""",
    fix="""Nothing, when the change is meant: the platform team reviews it. Otherwise restore the line named; the
    message says what it was at the merge-base.""",
    interpretation="""Compared with the merge-base (of HEAD and `gitops.diff_base`, default `main`, or
    `origin/<branch>`): in `schemas/policy.yaml` (else the tool's default) a lower severity in a profile (per
    condition), an entry gone from `unsuppressible`, an environment or `defaultProfile` on a weaker profile, and
    settings loosened (`clusterScopedKinds`, `preProvisionedSecrets`, `preProvisionedConfigMaps`,
    `ingressNamespaces`, `spreadTopologyKeys` gaining entries; `forbiddenKinds`, `secretNames`,
    `placeholderHosts`, `networkPolicyTypes` losing some; a lower `replicas` minimum; a higher `entropy` limit); in
    each `overlays/<env>/environment.yaml` a namespace added to an app (a new app or environment adds all of its
    own), an entry gone from `reservedNamespaces`, `sync` loosened (false to true, or removed), another `server` or
    `cluster`, a new environment; in `gitops.yaml` another `repoURL`, `revision`, `argocd.namespace` or
    `flux.namespace`, and `flux.secretName` removed. The severity is the one the merge-base's policy gives (for an
    environment file in that environment's profile, else in `defaultProfile`): a pull request cannot lower it for
    itself. Outside a git checkout, or without a merge-base, one `info` finding says that nothing was compared.""",
)
