"""The files of a new app: `base/<name>/` and `overlays/<env>/<name>/` for every environment, from templates,
and each environment file with the app declared (`apps.<name>: {namespaces: [<name>]}`).

The templates are package data (`phoenix_gitops/data/templates/*.yaml.tmpl`, modelled on the api app), filled
with `str.format`: `{name}`, `{env}`, `{image}`, `{pin}`, sizes and bounds. What differs per environment is read
from the environment itself: one pod and no HorizontalPodAutoscaler where its apps use the single-replica
component (with no apps yet: where it does not require digests), the replica range and the secret store its
other apps use. Nothing is written here; `edit.new_app` checks, writes and renders the result.

Usage:
    files = scaffold(repo, "billing", parse_image("1a2b3c4@sha256:..."), digest_envs={"staging", "prod"})
    files["overlays/prod/billing/kustomization.yaml"]     # the overlay's text
    files["overlays/prod/environment.yaml"]               # the environment file, billing declared
"""
from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterator
from importlib.resources import files as package_files
from typing import Any

from .errors import GitopsError, InputError
from .images import ImageRef, build_comment, digest_note
from .layout import Environment, Repo
from .yamlio import edit_mapping, load_file

__all__ = ["scaffold", "template", "APP_NAME", "DEFAULT_IMAGE_PREFIX", "UNRELEASED"]

DEFAULT_IMAGE_PREFIX = "ghcr.io/acme"
APP_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")
"""A new app's name: lowercase letters, digits and dashes, starting with a letter, at most 40 characters (it
becomes the namespace and the prefix of names such as `<name>-cluster`, which must stay DNS labels)."""
UNRELEASED = "unreleased"
"""The tag a new app's overlays pin before its first release."""
_SINGLE_REPLICA = "base/components/single-replica"


@functools.cache
def template(name: str) -> str:
    """The text of template `name` (e.g. `hpa-patch.yaml`), read from the package data."""
    resource = package_files("phoenix_gitops") / "data" / "templates" / f"{name}.tmpl"
    return resource.read_bytes().decode("utf-8")


def scaffold(repo: Repo, name: str, ref: ImageRef | None, digest_envs: Collection[str],
             image_prefix: str = DEFAULT_IMAGE_PREFIX) -> dict[str, str]:
    """The files of app `name`: {repo-relative path: text}; `digest_envs` are the environments that take only
    images pinned by digest. Without `ref`, the overlays pin the tag `unreleased`."""
    image = f"{image_prefix.rstrip('/')}/{name}"
    files = {f"base/{name}/kustomization.yaml": template("base-kustomization.yaml").format(name=name, image=image)}
    for env_name in repo.env_names():
        environment = repo.environment(env_name)
        digest_env = env_name in digest_envs
        single = _single_replica(repo, environment, digest_env)
        pin, comment = _pin(name, env_name, ref, digest_env)
        version = UNRELEASED if ref is None else ref.tag or (ref.digest or "").partition(":")[2][:12]
        folder = f"overlays/{env_name}/{name}"
        files[f"{folder}/kustomization.yaml"] = template("overlay-kustomization.yaml").format(
            name=name, env=env_name, image=image, pin=pin, image_comment=comment,
            base_domain=environment.base_domain, pool_size=5 if single else 10,
            replicas="" if single else ", replicas",
            components=template("overlay-components.yaml") if single else "",
            labels=template("overlay-labels.yaml").format(tag=version),
            hpa_patch="" if single else "  - path: hpa-patch.yaml\n",
        )
        files[f"{folder}/deployment-patch.yaml"] = template("deployment-patch.yaml").format(
            env=env_name.capitalize(), name=name, cpu="100m" if single else "250m",
            memory="384Mi" if single else "512Mi")
        if not single:
            low, high = _hpa_bounds(environment)
            files[f"{folder}/hpa-patch.yaml"] = template("hpa-patch.yaml").format(
                env=env_name.capitalize(), name=name, low=low, high=high)
        files[f"{folder}/externalsecret-patch.yaml"] = template("externalsecret-patch.yaml").format(
            name=name, env=env_name, store=_secret_store(environment))
        files[environment.file] = _declared(repo, environment, name)
    return files


def _declared(repo: Repo, environment: Environment, name: str) -> str:
    """The environment file's text with app `name` declared, using the namespace of its own name."""
    text = (repo.root / environment.file).read_text(encoding="utf-8")
    entry = {"namespaces": [name]}
    has_apps = environment.doc is not None and isinstance(environment.doc.data, dict) and "apps" in environment.doc.data
    try:
        if has_apps:
            return edit_mapping(text, ("apps",), {name: entry}, name=environment.file)
        return edit_mapping(text, (), {"apps": {name: entry}}, name=environment.file)
    except ValueError as err:
        raise InputError(f"{err}; declare `{name}: {{namespaces: [{name}]}}` under `apps:` by hand") from None


def _pin(name: str, env_name: str, ref: ImageRef | None, digest_env: bool) -> tuple[str, str]:
    """The `images:` entry's pin line and the comment above the entry."""
    if ref is None:
        return (f'    newTag: "{UNRELEASED}"',
                f"No release yet: run `invoke set-image {env_name} {name} <tag or digest>` before the first sync.")
    if ref.digest and (digest_env or not ref.tag):
        return f"    digest: {ref.digest}", build_comment(ref.tag, True) if ref.tag else "Pinned by digest."
    assert ref.tag is not None  # (a reference without a tag has a digest: pinned above)
    # the digest, when known, is written down so that `promote` can pin it where digests are required
    return (f'    newTag: "{ref.tag}"' + (digest_note(ref.digest) if ref.digest else ""), build_comment(ref.tag, False))


def _single_replica(repo: Repo, environment: Environment, digest_env: bool) -> bool:
    """Whether `environment` runs apps as one pod (dev-like): its existing overlays use the single-replica
    component; with no apps yet, when it does not require digests."""
    if not (repo.root / _SINGLE_REPLICA).is_dir():
        return False
    uses = []
    for overlay in environment.overlays():
        try:
            data = load_file(overlay.kustomization()[0], name=overlay.rel)[0].data
        except (GitopsError, IndexError):
            continue
        components = data.get("components") if isinstance(data, dict) else None
        uses.append(any(str(c).rstrip("/").endswith("/single-replica") for c in components or []))
    return any(uses) if uses else not digest_env


def _peer_specs(environment: Environment, kind: str) -> Iterator[dict[str, Any]]:
    """The `spec` of every document of `kind` in the environment's existing overlays (their patches), in app order."""
    for overlay in environment.overlays():
        for path in sorted(overlay.path.glob("*.yaml")):
            try:
                docs = load_file(path, name=f"{overlay.rel}/{path.name}")
            except GitopsError:
                continue
            for doc in docs:
                spec = doc.data.get("spec") if isinstance(doc.data, dict) and doc.data.get("kind") == kind else None
                if isinstance(spec, dict):
                    yield spec


def _hpa_bounds(environment: Environment) -> tuple[int, int]:
    """The replica range the environment's other apps patch into their HPA, else 2 to 4."""
    for spec in _peer_specs(environment, "HorizontalPodAutoscaler"):
        low, high = spec.get("minReplicas"), spec.get("maxReplicas")
        if isinstance(low, int) and isinstance(high, int) and 0 < low <= high:
            return low, high
    return 2, 4


def _secret_store(environment: Environment) -> str:
    """The secret store the environment's other apps read from, else `vault-<env>`."""
    for spec in _peer_specs(environment, "ExternalSecret"):
        ref = spec.get("secretStoreRef")
        store = ref.get("name") if isinstance(ref, dict) else None
        if isinstance(store, str) and store:
            return store
    return f"vault-{environment.name}"
