"""Everyday edits of the overlays: set an app's image in one environment, promote it, scaffold a new app.

`set_image` and `promote` change only the `images:` entry of `overlays/<env>/<app>/kustomization.yaml`, through
`yamlio.edit_mapping` (every other byte of the file unchanged). Before anything is written, the edited overlay
is checked on a scratch copy of the repository (`check.run_check` on the target environment, real kustomize);
a change that would make `invoke check` fail there is refused. The file is then replaced atomically (temp file
+ `os.replace`) and the environment re-rendered (`render.render`).

Digest rule (`digest_required`): an environment takes only images pinned by digest when it is listed in
`digest_envs` (`gitops.digest_envs` in invoke.yaml, default staging and prod) or when the rule policy
(`schemas/policy.yaml`) makes PHX-V04 an error there (prod). The check run before writing enforces PHX-V04
too; the explicit rule gives a clear refusal before anything runs, and tells `promote` what to resolve.
`promote` into such an environment resolves the source's tag to a digest when the digest is recorded: the source
already pins a digest (`digest:`), or its `newTag:` line ends with a comment `# digest: sha256:<64 hex>`, written
when the tag was pushed (`new_app --image <tag>@<digest>` writes it too).

`new_app` scaffolds `base/<name>/` and `overlays/<env>/<name>/` for every environment from the templates below
(modelled on the api app), checks them on a scratch copy, writes them, and renders every environment; on any
failure nothing is left behind.

Usage:
    result = set_image(repo, kz, "prod", "api", "sha256:...", digest_envs=("staging", "prod"))
    result = promote(repo, kz, "api", "staging", "prod", digest_envs=("staging", "prod"))
    result = new_app(repo, kz, "billing", image="1a2b3c4@sha256:...", digest_envs=("staging", "prod"))
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from . import render as rendering, rules
from .check import run_check
from .errors import GitopsError, InputError, ToolError, UsageError
from .files import replace_file
from .findings import errors_in
from .kustomize import Kustomize
from .layout import ALL, KUSTOMIZATION_FILES, Environment, Overlay, Repo
from .yamlio import DELETE, edit_mapping, load_file, load_text

__all__ = [
    "ImageRef", "EditResult", "NewAppResult", "parse_image", "set_image", "promote", "new_app", "image_entries",
    "format_entry", "DEFAULT_DIGEST_ENVS", "DEFAULT_IMAGE_PREFIX", "APP_NAME",
]

DEFAULT_DIGEST_ENVS = ("staging", "prod")
DEFAULT_IMAGE_PREFIX = "ghcr.io/acme"
APP_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")
"""A new app's name: lowercase letters, digits and dashes, starting with a letter, at most 40 characters (it
becomes the namespace and the prefix of names such as `<name>-cluster`, which must stay DNS labels)."""
_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_RECORDED = re.compile(r"#\s*digest:\s*(sha256:[0-9a-f]{64})(?![0-9a-f])")
"""A digest written down on an images entry's `newTag:` line, e.g. `newTag: "5d3a6e1"  # digest: sha256:...`."""
_SCRATCH_SKIP = {"rendered", "clusters", "tests", "venv", "node_modules", "__pycache__"}


@dataclass(frozen=True)
class ImageRef:
    """An image reference as given on the command line: any of repository, tag and digest."""

    name: str | None = None
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        return f"{self.name or ''}{':' + self.tag if self.tag else ''}{'@' + self.digest if self.digest else ''}"


@dataclass(frozen=True)
class EditResult:
    """What `set_image` or `promote` did."""

    path: str
    """The repo-relative kustomization file."""
    env: str
    app: str
    before: str
    """The image before, e.g. `ghcr.io/acme/api@sha256:...`."""
    after: str
    changed: bool
    """False when the file already said so (nothing written, nothing rendered)."""
    rendered: tuple[str, ...] = ()
    """Files the render changed."""
    notes: tuple[str, ...] = ()
    """How a reference was resolved (promote)."""


@dataclass(frozen=True)
class NewAppResult:
    """What `new_app` wrote."""

    app: str
    files: tuple[str, ...]
    rendered: tuple[str, ...]


def parse_image(text: str) -> ImageRef:
    """A tag (`5d3a6e1`), a digest (`sha256:<64 hex>`), `<tag>@<digest>`, or a full reference
    (`ghcr.io/acme/api:5d3a6e1`, `ghcr.io/acme/api@sha256:...`, as `invoke history` lists them).

    >>> str(parse_image("ghcr.io/acme/api:1.2@sha256:" + "a" * 64)) == "ghcr.io/acme/api:1.2@sha256:" + "a" * 64
    True
    """
    text = text.strip()
    if not text:
        raise UsageError("no image given: pass a tag, sha256:<digest>, <tag>@sha256:<digest> or a full reference")
    ref, digest = (text, None)
    if _DIGEST.match(text) or text.startswith(("sha256:", "sha512:")):
        ref, digest = "", text
    elif "@" in text:
        ref, digest = text.split("@", 1)
    if digest is not None and not _DIGEST.match(digest):
        raise UsageError(f"bad digest {digest!r}: expected sha256: and 64 lowercase hex digits")
    name, tag = None, ref or None
    if ref and ("/" in ref or ":" in ref):
        slash = ref.rfind("/")
        colon = ref.rfind(":")
        name, tag = (ref[:colon], ref[colon + 1:]) if colon > slash else (ref, None)
        if not _REPOSITORY.match(name):
            raise UsageError(f"bad image name {name!r}")
    if tag is not None and not _TAG.match(tag):
        raise UsageError(f"bad tag {tag!r}: letters, digits, '_', '.' and '-', at most 128, "
                         "not starting with '.' or '-'")
    return ImageRef(name, tag, digest)


def format_entry(entry: dict[str, Any]) -> str:
    """The image an `images:` entry gives, e.g. `ghcr.io/acme/api@sha256:...` or `ghcr.io/acme/api:b82f0c3`."""
    name = str(entry.get("newName") or entry.get("name") or "?")
    tag, digest = entry.get("newTag"), entry.get("digest")
    return f"{name}{':' + str(tag) if tag is not None else ''}{'@' + str(digest) if digest else ''}"


def image_entries(data: Any) -> list[dict[str, Any]]:
    """The `images:` entries of a kustomization's plain data ([] when there are none)."""
    images = data.get("images") if isinstance(data, dict) else None
    return [e for e in images if isinstance(e, dict)] if isinstance(images, list) else []


# Finding what to edit.

def _one_env(repo: Repo, env: str) -> Environment:
    wanted = env[len("env="):] if env.startswith("env=") else env
    if wanted == ALL:
        raise UsageError(f"name one environment, not {ALL!r}")
    return repo.select_envs(wanted)[0]


def _overlay(environment: Environment, app: str) -> Overlay:
    overlays = environment.overlays()
    for overlay in overlays:
        if overlay.app == app:
            return overlay
    known = ", ".join(o.app for o in overlays) or "none"
    raise UsageError(f"unknown app {app!r} in {environment.name}; known: {known}")


def _kustomization(overlay: Overlay) -> tuple[Path, str]:
    for name in KUSTOMIZATION_FILES:
        path = overlay.path / name
        if path.is_file():
            return path, f"{overlay.rel}/{name}"
    raise UsageError(f"{overlay.rel}: no kustomization file")


def _read(path: Path, rel: str) -> tuple[str, dict[str, Any]]:
    raw = path.read_bytes()
    docs = load_text(raw, rel)
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        raise InputError(f"{rel}: error SRC-KUSTOMIZATION expected one YAML mapping")
    return raw.decode("utf-8"), docs[0].data


def _entry(data: dict[str, Any], rel: str, app: str, name: str | None) -> int:
    """The index of the `images:` entry to edit: the one named `name` (by `name` or `newName`), the only one,
    or the one whose image name ends in `/<app>`."""
    images = data.get("images")
    entries = image_entries(data)
    if not isinstance(images, list) or not entries:
        raise InputError(f"{rel}: no images: entry to edit (add one naming the app's image, e.g. "
                         f"`images: [{{name: {DEFAULT_IMAGE_PREFIX}/{app}, newTag: ...}}]`)")
    listed = ", ".join(str(e.get("name")) for e in entries)
    if name is not None:
        found = [i for i, e in enumerate(images) if isinstance(e, dict) and name in (e.get("name"), e.get("newName"))]
        if not found:
            raise UsageError(f"image {name!r} is not in the images: of {rel} (it has {listed})")
        return found[0]
    if len(images) == 1 and isinstance(images[0], dict):
        return 0
    found = [i for i, e in enumerate(images)
             if isinstance(e, dict) and str(e.get("name", "")).rsplit("/", 1)[-1] == app]
    if len(found) != 1:
        raise UsageError(f"{rel} has several images: entries ({listed}); give the full image reference")
    return found[0]


def _changes(entry: dict[str, Any], ref: ImageRef) -> dict[str, Any]:
    """The keys of `entry` to set or DELETE so that it gives `ref` (its name is kept)."""
    if ref.digest:
        return {"digest": ref.digest, "newTag": ref.tag if ref.tag else DELETE}
    return {"newTag": ref.tag, "digest": DELETE}


def digest_required(env: str, digest_envs: tuple[str, ...]) -> str | None:
    """Why `env` takes only images pinned by digest (None when it does not): listed in `digest_envs`, or PHX-V04
    is an error there under the rule policy."""
    if env in digest_envs:
        return "gitops.digest_envs in invoke.yaml"
    policy, _ = rules.load_policy()
    rule = rules.CATALOGUE.get("PHX-V04")
    if policy is not None and rule is not None and policy.severity(rule, env) == "error":
        return "PHX-V04 is an error there in schemas/policy.yaml"
    return None


def _require_digest(env: str, ref: ImageRef, digest_envs: tuple[str, ...]) -> None:
    why = digest_required(env, digest_envs)
    if why and not ref.digest:
        raise UsageError(
            f"{env} takes only images pinned by digest ({why}): give sha256:<64 hex>, "
            f"<tag>@sha256:<64 hex> or a full reference with @sha256:..."
        )


# Checking and writing.

@contextmanager
def scratch_copy(repo: Repo) -> Iterator[Repo]:
    """A throw-away copy of the config repository's sources (no `rendered/`, `clusters/`, hidden folders)."""
    parent = Path(tempfile.mkdtemp(prefix="phoenix-gitops-edit-"))
    try:
        root = parent / "repo"
        root.mkdir()
        for child in repo.root.iterdir():
            if child.name.startswith(".") or child.name in _SCRATCH_SKIP:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.copytree(child, root / child.name, symlinks=True,
                                ignore=shutil.ignore_patterns("__pycache__", ".*.tmp"))
            else:
                shutil.copy2(child, root / child.name, follow_symlinks=False)
        yield Repo(root)
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _check_with(repo: Repo, files: dict[str, str], env_names: list[str], kz: Kustomize, jobs: int | None,
                what: str) -> None:
    """Run the check of `env_names` on a scratch copy with `files` (repo-relative path -> text) written into it;
    InputError listing the errors if it would fail."""
    with scratch_copy(repo) as scratch:
        for rel, text in files.items():
            target = scratch.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))
        report = run_check(scratch, [scratch.environment(n) for n in env_names], kz, jobs=jobs)
    if report.tool_errors:
        raise ToolError("\n".join(report.tool_errors))
    errors = errors_in(report.findings)
    if errors:
        raise InputError(f"refused: {what} would make `invoke check` fail in {', '.join(env_names)}; "
                         "nothing was written:\n" + "\n".join(str(f) for f in errors))


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8) atomically, keeping its mode."""
    replace_file(path, text.encode("utf-8"), mode=stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644)


def _render(repo: Repo, envs: list[Environment], kz: Kustomize, jobs: int | None, wrote: str) -> tuple[str, ...]:
    try:
        return rendering.render(repo, envs, kz, jobs=jobs).changed
    except GitopsError as err:
        err.args = (f"{wrote}, but the render failed; fix that and run `invoke render "
                    f"{'all' if len(envs) > 1 else 'env=' + envs[0].name}`:\n{err}",)
        raise


def _edit_image(repo: Repo, kz: Kustomize, environment: Environment, app: str,
                changes_for: Callable[[dict[str, Any]], dict[str, Any]], name: str | None, jobs: int | None,
                notes: tuple[str, ...] = ()) -> EditResult:
    """Edit `app`'s images: entry in `environment` as `changes_for(entry)` says; check, write, render."""
    overlay = _overlay(environment, app)
    path, rel = _kustomization(overlay)
    text, data = _read(path, rel)
    index = _entry(data, rel, app, name)
    entry = data["images"][index]
    changes = changes_for(entry)
    try:
        new_text = edit_mapping(text, ("images", index), changes, name=rel, quote_new=frozenset({"newTag"}))
    except ValueError as err:
        raise InputError(f"{rel}: cannot edit the images: entry in place: {err}") from None
    after = {key: value for key, value in entry.items() if changes.get(key) is not DELETE}
    after.update({key: value for key, value in changes.items() if value is not DELETE})
    result = EditResult(rel, environment.name, app, format_entry(entry), format_entry(after), new_text != text,
                        notes=notes)
    if new_text == text:
        return result
    _check_with(repo, {rel: new_text}, [environment.name], kz, jobs, f"setting {app}'s image in {environment.name}")
    write_atomic(path, new_text)
    changed = _render(repo, [environment], kz, jobs, f"wrote {rel}")
    return EditResult(result.path, result.env, app, result.before, result.after, True, changed, notes)


def set_image(
    repo: Repo,
    kz: Kustomize,
    env: str,
    app: str,
    image: str,
    digest_envs: tuple[str, ...] = DEFAULT_DIGEST_ENVS,
    jobs: int | None = None,
) -> EditResult:
    """Point `app`'s image in `env` at `image` (a tag, a digest, `<tag>@<digest>` or a full reference).

    Raises UsageError for an unknown env or app, a malformed reference, a tag where `env` needs a digest;
    InputError when the overlay has no images: entry or the result would not check clean (nothing written).
    """
    environment = _one_env(repo, env)
    ref = parse_image(image)
    _require_digest(environment.name, ref, tuple(digest_envs))
    return _edit_image(repo, kz, environment, app, lambda entry: _changes(entry, ref), ref.name, jobs)


def promote(
    repo: Repo,
    kz: Kustomize,
    app: str,
    source: str,
    target: str,
    digest_envs: tuple[str, ...] = DEFAULT_DIGEST_ENVS,
    jobs: int | None = None,
) -> EditResult:
    """Copy `app`'s image reference from environment `source` to `target` (see the module docstring for how
    a tag is resolved to a digest when `target` requires digests)."""
    src, dst = _one_env(repo, source), _one_env(repo, target)
    if src.name == dst.name:
        raise UsageError(f"cannot promote {app} from {src.name} to itself; name two different environments")
    overlay = _overlay(src, app)
    _overlay(dst, app)
    path, rel = _kustomization(overlay)
    text, data = _read(path, rel)
    index = _entry(data, rel, app, None)
    entry = data["images"][index]
    tag, digest = entry.get("newTag"), entry.get("digest")
    notes: list[str] = []
    why = digest_required(dst.name, tuple(digest_envs))
    if why:
        if not digest and tag is not None:
            line, _ = load_text(text, rel)[0].position(("images", index, "newTag"))
            recorded = _RECORDED.search(text.splitlines()[line - 1])
            if not recorded:
                raise InputError(
                    f"{rel}: {src.name} runs {app} by tag {tag!r} without a recorded digest, and {dst.name} takes only "
                    f"digests ({why}). Pin {src.name} by digest, write the digest down on the newTag line "
                    f"(`newTag: \"{tag}\"  # digest: sha256:<64 hex>`), or run "
                    f"`invoke set-image {dst.name} {app} {tag}@sha256:<64 hex>`"
                )
            digest = recorded.group(1)
            notes.append(f"resolved tag {tag} to {digest} (recorded in {rel}:{line})")
        if not digest:
            raise InputError(f"{rel}: {src.name} gives {app} no tag or digest; nothing to promote")
        ref = ImageRef(None, None, digest)
    else:
        if tag is None and not digest:
            raise InputError(f"{rel}: {src.name} gives {app} no tag or digest; nothing to promote")
        ref = ImageRef(None, None if tag is None else str(tag), digest)
    new_name = entry.get("newName")

    def changes_for(target_entry: dict[str, Any]) -> dict[str, Any]:
        changes = _changes(target_entry, ref)
        if new_name is not None or "newName" in target_entry:
            changes["newName"] = new_name if new_name is not None else DELETE
        return changes

    return _edit_image(repo, kz, dst, app, changes_for, str(entry.get("name")), jobs, tuple(notes))


# Scaffolding a new app.

_BASE = """\
# Per-app base for {name}: only its identity on top of base/phoenix.
# Replacements run after namePrefix and the labels in this file, so they see the final names.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {name}
namePrefix: {name}-
resources:
  - ../phoenix
labels:
  - pairs:
      app.kubernetes.io/name: {name}
      app.kubernetes.io/instance: {name}
    includeSelectors: true
images:
  - name: phoenix-app
    newName: {image}
replacements:
  # RELEASE_NODE basename = release name = app.kubernetes.io/name: {name}@$(POD_IP).
  - source:
      kind: Deployment
      name: {name}-web
      fieldPath: metadata.labels.[app.kubernetes.io/name]
    targets:
      - select:
          kind: Deployment
          name: {name}-web
        fieldPaths:
          - spec.template.spec.containers.[name=app].env.[name=RELEASE_NODE].value
        options:
          delimiter: "@"
          index: 0
  # DNS_CLUSTER_QUERY = <headless Service>.<namespace>.svc.cluster.local.
  - source:
      kind: Service
      name: {name}-cluster
      fieldPath: metadata.name
    targets:
      - select:
          kind: ConfigMap
          name: {name}-env
        fieldPaths:
          - data.DNS_CLUSTER_QUERY
        options:
          delimiter: "."
          index: 0
  - source:
      kind: Service
      name: {name}-cluster
      fieldPath: metadata.namespace
    targets:
      - select:
          kind: ConfigMap
          name: {name}-env
        fieldPaths:
          - data.DNS_CLUSTER_QUERY
        options:
          delimiter: "."
          index: 1
"""

_OVERLAY = """\
# {name} in {env}: image, host, sizes{replicas} and secret store for this environment.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../../base/{name}
{components}sortOptions:
  order: legacy
{labels}images:
  # {image_comment}
  - name: {image}
{pin}
configMapGenerator:
  - name: env
    behavior: merge
    literals:
      - PHX_HOST={name}.{base_domain}
      - POOL_SIZE={pool_size}
patches:
  - path: deployment-patch.yaml
{hpa_patch}  - path: externalsecret-patch.yaml
replacements:
  # The routed host is always PHX_HOST (the host Phoenix builds URLs for and checks origins against).
  - source:
      kind: ConfigMap
      name: {name}-env
      fieldPath: data.PHX_HOST
    targets:
      - select:
          kind: HTTPRoute
          name: {name}-web
        fieldPaths:
          - spec.hostnames.0
"""

_COMPONENTS = """\
components:
  # One pod and no HorizontalPodAutoscaler.
  - ../../../base/components/single-replica
"""

_LABELS = """\
labels:
  # Mutable: never part of a selector.
  - pairs:
      app.kubernetes.io/version: "{tag}"
    includeSelectors: false
    includeTemplates: true
"""

_DEPLOYMENT_PATCH = """\
# {env} sizes for {name}: memory limit equal to the request (the BEAM is not memory-limit aware), whole-core CPU limit.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: app
          resources:
            requests:
              cpu: {cpu}
              memory: {memory}
            limits:
              cpu: "1"
              memory: {memory}
"""

_HPA_PATCH = """\
# {env} replica range for {name}.
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  minReplicas: {low}
  maxReplicas: {high}
"""

_EXTERNALSECRET_PATCH = """\
# Reads {name}'s secrets for {env} from this cluster's store; the key differs per environment.
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: secrets
spec:
  secretStoreRef:
    name: {store}
  dataFrom:
    - extract:
        key: phoenix/{env}/{name}
"""

_SINGLE_REPLICA = "base/components/single-replica"
_UNRELEASED = "unreleased"


def _single_replica(repo: Repo, environment: Environment, digest_env: bool) -> bool:
    """Whether `environment` runs apps as one pod (dev-like): its existing overlays use the single-replica
    component; with no apps yet, when it does not require digests."""
    if not (repo.root / _SINGLE_REPLICA).is_dir():
        return False
    uses = []
    for overlay in environment.overlays():
        try:
            data = load_file(_kustomization(overlay)[0], name=overlay.rel)[0].data
        except (GitopsError, IndexError):
            continue
        components = data.get("components") if isinstance(data, dict) else None
        uses.append(any(str(c).rstrip("/").endswith("/single-replica") for c in components or []))
    return any(uses) if uses else not digest_env


def _peer_docs(environment: Environment, kind: str) -> Iterator[dict[str, Any]]:
    """The documents of `kind` in the environment's existing overlays (their patches), in app order."""
    for overlay in environment.overlays():
        for path in sorted(overlay.path.glob("*.yaml")):
            try:
                docs = load_file(path, name=f"{overlay.rel}/{path.name}")
            except GitopsError:
                continue
            yield from (d.data for d in docs if isinstance(d.data, dict) and d.data.get("kind") == kind)


def _hpa_bounds(environment: Environment) -> tuple[int, int]:
    """The replica range the environment's other apps patch into their HPA, else 2 to 4."""
    for data in _peer_docs(environment, "HorizontalPodAutoscaler"):
        spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
        low, high = spec.get("minReplicas"), spec.get("maxReplicas")
        if isinstance(low, int) and isinstance(high, int) and 0 < low <= high:
            return low, high
    return 2, 4


def _secret_store(environment: Environment) -> str:
    """The secret store the environment's other apps read from, else `vault-<env>`."""
    for data in _peer_docs(environment, "ExternalSecret"):
        spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
        store = spec.get("secretStoreRef").get("name") if isinstance(spec.get("secretStoreRef"), dict) else None
        if isinstance(store, str) and store:
            return store
    return f"vault-{environment.name}"


def scaffold(repo: Repo, name: str, ref: ImageRef | None, digest_envs: tuple[str, ...],
             image_prefix: str = DEFAULT_IMAGE_PREFIX) -> dict[str, str]:
    """The files of a new app: {repo-relative path: text}. Does not write anything."""
    image = f"{image_prefix.rstrip('/')}/{name}"
    files = {f"base/{name}/kustomization.yaml": _BASE.format(name=name, image=image)}
    for env_name in repo.env_names():
        environment = repo.environment(env_name)
        digest_env = digest_required(env_name, digest_envs) is not None
        single = _single_replica(repo, environment, digest_env)
        if ref is None:
            pin = f'    newTag: "{_UNRELEASED}"'
            comment = f"No release yet: run `invoke set-image {env_name} {name} <tag or digest>` before the first sync."
        elif ref.digest and (digest_env or not ref.tag):
            pin = f"    digest: {ref.digest}"
            comment = f"Build {ref.tag}, pinned by digest." if ref.tag else "Pinned by digest."
        else:  # the digest, when known, is written down so that `promote` can pin it where digests are required
            pin = f'    newTag: "{ref.tag}"' + (f"  # digest: {ref.digest}" if ref.digest else "")
            comment = f"Immutable tag {ref.tag}; never reused."
        version = _UNRELEASED if ref is None else ref.tag or (ref.digest or "").partition(":")[2][:12]
        low, high = _hpa_bounds(environment)
        folder = f"overlays/{env_name}/{name}"
        files[f"{folder}/kustomization.yaml"] = _OVERLAY.format(
            name=name, env=env_name, image=image, pin=pin, image_comment=comment,
            base_domain=environment.base_domain, pool_size=5 if single else 10,
            replicas="" if single else ", replicas",
            components=_COMPONENTS if single else "",
            labels=_LABELS.format(tag=version),
            hpa_patch="" if single else "  - path: hpa-patch.yaml\n",
        )
        files[f"{folder}/deployment-patch.yaml"] = _DEPLOYMENT_PATCH.format(
            env=env_name.capitalize(), name=name, cpu="100m" if single else "250m",
            memory="384Mi" if single else "512Mi")
        if not single:
            files[f"{folder}/hpa-patch.yaml"] = _HPA_PATCH.format(env=env_name.capitalize(), name=name, low=low,
                                                                  high=high)
        files[f"{folder}/externalsecret-patch.yaml"] = _EXTERNALSECRET_PATCH.format(
            name=name, env=env_name, store=_secret_store(environment))
    return files


def new_app(
    repo: Repo,
    kz: Kustomize,
    name: str,
    image: str | None = None,
    digest_envs: tuple[str, ...] = DEFAULT_DIGEST_ENVS,
    image_prefix: str = DEFAULT_IMAGE_PREFIX,
    jobs: int | None = None,
) -> NewAppResult:
    """Scaffold app `name` (base and an overlay in every environment), check it, write it, render every env.

    Raises UsageError for an invalid or existing name, a malformed image, or no digest where an environment
    requires digests (`digest_required`); on any failure (Ctrl-C included) nothing is left behind. Without
    `image` (only where no environment requires a digest) the overlays pin the tag `unreleased`.
    """
    if not APP_NAME.match(name):
        raise UsageError(f"invalid app name {name!r}: lowercase letters, digits and dashes, starting with a letter, "
                         "not ending with a dash, at most 40 characters")
    if not (repo.root / "base" / "phoenix").is_dir():
        raise UsageError(f"{repo.root}: new-app builds on base/phoenix, which this repository does not have")
    taken = [p for p in [repo.root / "base" / name, *(repo.root / "overlays" / e / name for e in repo.env_names())]
             if p.exists() or p.is_symlink()]
    if taken:
        raise UsageError(f"app {name!r} exists: {', '.join(p.relative_to(repo.root).as_posix() for p in taken)}")
    ref = parse_image(image) if image else None
    if ref is not None and ref.name is not None and ref.name != f"{image_prefix.rstrip('/')}/{name}":
        raise UsageError(f"image {ref.name!r}: a new app's image is {image_prefix.rstrip('/')}/{name}; "
                         "give only the tag and/or digest")
    needs = [e for e in repo.env_names() if digest_required(e, tuple(digest_envs))]
    if needs and (ref is None or not ref.digest):
        raise UsageError(f"{', '.join(needs)} take only images pinned by digest (gitops.digest_envs, PHX-V04): "
                         "give the first release as --image <tag>@sha256:<64 hex>")
    files = scaffold(repo, name, ref, tuple(digest_envs), image_prefix)
    envs = repo.select_envs(ALL)
    _check_with(repo, files, [e.name for e in envs], kz, jobs, f"the scaffold of {name}")
    folders = sorted({rel.rsplit("/", 1)[0] for rel in files})
    created: list[Path] = []
    try:
        for folder in folders:
            target = repo.root / folder
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp.{target.name}.", dir=target.parent))
            try:
                for rel, text in files.items():
                    if rel.rsplit("/", 1)[0] == folder:
                        (tmp / rel.rsplit("/", 1)[1]).write_bytes(text.encode("utf-8"))
                tmp.chmod(0o755)
                os.rename(tmp, target)  # fails if the folder appeared meanwhile
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            created.append(target)
        changed = rendering.render(repo, envs, kz, jobs=jobs).changed
    except BaseException as err:
        for target in reversed(created):
            shutil.rmtree(target, ignore_errors=True)
        if isinstance(err, GitopsError):
            err.args = (f"nothing was written: {err}",)
        raise
    return NewAppResult(name, tuple(sorted(files)), changed)
