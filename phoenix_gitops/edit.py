"""Everyday edits of the overlays: set an app's image in one environment, promote it, add a new app.

`set_image` and `promote` change only the `images:` entry of `overlays/<env>/<app>/kustomization.yaml`, through
`yamlio.edit_mapping` (every other byte of the file unchanged). Before anything is written, the edited overlay
is checked on a scratch copy of the repository (`check.run_check` on the target environment, real kustomize);
a change that would make `invoke check` fail there is refused. The file is then replaced atomically (temp file
+ `os.replace`) and the environment re-rendered (`render.render`).

Digest rule (`digest_required`): an environment takes only images pinned by digest when it is listed in
`digest_envs` (`gitops.digest_envs` in invoke.yaml, default staging and prod) or when the repository's rule
policy makes PHX-V04 an error there (prod). The check run before writing enforces PHX-V04 too; the explicit rule
gives a clear refusal before anything runs, and tells `promote` what to resolve. `promote` into such an
environment resolves the source's tag to a digest when the digest is recorded: the source already pins a digest
(`digest:`), or its `newTag:` line ends with a comment `# digest: sha256:<64 hex>` (`images.recorded_digest`),
written when the tag was pushed (`new_app --image <tag>@<digest>` writes it too).

Edits stay consistent (`_rewrite`): the `# digest:` comment on the target's `newTag:` line is rewritten to the
digest of the new tag when that is known (given as `<tag>@<digest>`, or promoted with the tag) and removed when
it is not, so a comment never outlives the tag it was recorded for. Where the new build is known (a tag, or the
build promoted), the `app.kubernetes.io/version` label and the comment above the entry name it too; for a bare
digest both are left and a note says so. `promote` refuses a recorded digest that the overlay itself or its git
history ties to another tag (`_doubt`: the version label names another build, or an earlier commit had the same
comment next to another tag), rather than resolve the tag through it.

`new_app` writes what `scaffold.scaffold` makes (`base/<name>/` and `overlays/<env>/<name>/` for every
environment), checked on a scratch copy first, and renders every environment; on any failure nothing is left
behind.

Ctrl-C or SIGTERM before anything is written leaves nothing (the scratch copy is removed); after a write it
raises `signals.Interrupted`, which says what was written (the overlay, or the new app, and whether the render
was swapped in).

Usage:
    result = set_image(repo, kz, "prod", "api", "sha256:...", digest_envs=("staging", "prod"))
    result = promote(repo, kz, "api", "staging", "prod", digest_envs=("staging", "prod"))
    result = new_app(repo, kz, "billing", image="1a2b3c4@sha256:...", digest_envs=("staging", "prod"))
"""
from __future__ import annotations

import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import render as rendering
from . import rules
from .check import run_check
from .errors import GitopsError, InputError, ToolError, UsageError
from .files import create_folder, replace_file
from .findings import errors_in
from .history import recorded_for_another_tag
from .images import (
    VERSION_LABEL,
    ImageRef,
    format_entry,
    image_entries,
    parse_image,
    recorded_digest,
    restate_build,
    version_labels,
    with_recorded_digest,
)
from .kustomize import Kustomize
from .layout import ALL, Environment, Overlay, Repo
from .scaffold import APP_NAME, DEFAULT_IMAGE_PREFIX, scaffold
from .signals import Interrupted, signals_as_interrupts, signals_held, steps_done
from .tempdirs import temp_folder
from .yamlio import DELETE, Document, edit_mapping, load_text

__all__ = [
    "EditResult", "NewAppResult", "set_image", "promote", "new_app", "digest_required", "scratch_copy",
    "DEFAULT_DIGEST_ENVS", "DEFAULT_IMAGE_PREFIX",
]

DEFAULT_DIGEST_ENVS = ("staging", "prod")
_SCRATCH_SKIP = {"rendered", "clusters", "tests", "venv", "node_modules", "__pycache__"}


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
    """The files created (base and overlays)."""
    rendered: tuple[str, ...]
    declared: tuple[str, ...] = ()
    """The environment files the app was declared in (`apps.<app>`)."""


# Finding what to edit.

def _overlay(environment: Environment, app: str) -> Overlay:
    overlays = environment.overlays()
    for overlay in overlays:
        if overlay.app == app:
            return overlay
    known = ", ".join(o.app for o in overlays) or "none"
    raise UsageError(f"unknown app {app!r} in {environment.name}; known: {known}")


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


def digest_required(repo: Repo, env: str, digest_envs: tuple[str, ...]) -> str | None:
    """Why `env` takes only images pinned by digest (None when it does not): listed in `digest_envs`, or PHX-V04
    is an error there under the repository's rule policy."""
    if env in digest_envs:
        return "gitops.digest_envs in invoke.yaml"
    policy, _ = rules.load_policy(*rules.policy_file(repo.root))
    rule = rules.CATALOGUE.get("PHX-V04")
    if policy is not None and rule is not None and policy.severity(rule, env) == "error":
        return f"PHX-V04 is an error there in {policy.source}"
    return None


def _require_digest(repo: Repo, env: str, ref: ImageRef, digest_envs: tuple[str, ...]) -> None:
    why = digest_required(repo, env, digest_envs)
    if why and not ref.digest:
        raise UsageError(
            f"{env} takes only images pinned by digest ({why}): give sha256:<64 hex>, "
            f"<tag>@sha256:<64 hex> or a full reference with @sha256:..."
        )


# Checking and writing.

@contextmanager
def scratch_copy(repo: Repo) -> Iterator[Repo]:
    """A throw-away copy of the config repository's sources (no `rendered/`, `clusters/`, hidden folders), in
    a `tempdirs.temp_folder` (removed after the block, also on Ctrl-C or SIGTERM; pruned after a kill)."""
    with temp_folder("edit") as parent:
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


def _refuse_reserved(repo: Repo, name: str) -> None:
    """UsageError when `name`, which becomes the new app's namespace, is reserved or already an app's namespace
    in some environment."""
    policy = rules.load_policy(*rules.policy_file(repo.root))[0]  # a broken policy: `check` reports it
    gateway = tuple(str(n) for n in (policy.setting("ingressNamespaces") if policy else None) or [])
    for env_name in repo.env_names():
        env = repo.environment(env_name)
        pattern = env.reserved_by(name, gateway)
        if pattern:
            raise UsageError(f"app name {name!r} is a reserved namespace in {env_name} ({pattern!r}); "
                             "choose another name")
        owners = [app for app, namespaces in env.apps.items() if name in namespaces]
        if owners:
            raise UsageError(f"namespace {name!r} already belongs to app {owners[0]} in {env.file}; "
                             "choose another name")


def _check_with(repo: Repo, files: dict[str, str], env_names: list[str], kz: Kustomize, jobs: int | None,
                what: str) -> None:
    """Run the check of `env_names` on a scratch copy with `files` (repo-relative path -> text) written into it;
    InputError listing the errors if it would fail."""
    with signals_as_interrupts(), scratch_copy(repo) as scratch:
        for rel, text in files.items():
            target = scratch.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))
        report = run_check(scratch, scratch.environments(env_names), kz, jobs=jobs)
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


@dataclass(frozen=True)
class _Plan:
    """What an edit makes of the target's `images:` entry, and what it knows about the build it runs then."""

    changes: dict[str, Any]
    """The entry's keys to set or DELETE (`_changes`)."""
    recorded: str | None
    """The digest of the new tag, written down on the `newTag:` line when the entry pins no digest itself;
    None: a `# digest:` comment there is removed."""
    build: str | None
    """The build the entry runs from now on (its tag, or the build promoted), for the version label and the
    comment above the entry; None when it is not known (a bare digest): both are left as they are."""
    notes: tuple[str, ...] = ()


def _line(text: str, number: int) -> str:
    """Line `number` (1-based, as YAML counts them) of `text`, without its line end."""
    return text.split("\n")[number - 1].removesuffix("\r")


def _doubt(repo: Repo, rel: str, doc: Document, index: int, tag: str, digest: str) -> str | None:
    """Why the digest recorded on the newTag line of entry `index` may be another build's than `tag` (None when
    nothing says so): the overlay's version label names another build, or the digest was recorded there for
    another tag in an earlier commit (`history.recorded_for_another_tag`)."""
    for path, value in version_labels(doc.data):
        if value != tag:
            line = doc.position(path + (VERSION_LABEL,))[0]
            return f"the overlay's {VERSION_LABEL} label (line {line}) says it runs {value}"
    found = recorded_for_another_tag(repo, rel, str(doc.data["images"][index].get("name")), tag, digest)
    if found:
        other, commit = found
        return f"it was recorded there for tag {other} in commit {commit.short} ({commit.subject!r})"
    return None


def _rewrite(text: str, rel: str, index: int, plan: _Plan) -> tuple[str, list[str]]:
    """`text` with entry `index` of `images:` edited as `plan` says, and kept in step with it: the `# digest:`
    comment of its `newTag:` line, and where the build is known, the version label and the comment above it."""
    doc = load_text(text, rel)[0]
    entry = doc.data["images"][index]
    olds = {str(entry["newTag"])} if entry.get("newTag") is not None else set()
    notes: list[str] = []
    try:
        new_text = edit_mapping(text, ("images", index), plan.changes, name=rel, quote_new=frozenset({"newTag"}))
    except ValueError as err:
        raise InputError(f"{rel}: cannot edit the images: entry in place: {err}") from None
    for path, value in version_labels(doc.data):
        line = doc.position(path + (VERSION_LABEL,))[0]
        if plan.build is None:
            if new_text != text:
                notes.append(f"{rel}:{line}: {VERSION_LABEL} left at {value}: the build of a bare digest is not "
                             "known (give <tag>@sha256:<64 hex> to update it)")
            continue
        olds.add(value)
        if value != plan.build:
            try:
                new_text = edit_mapping(new_text, path, {VERSION_LABEL: plan.build}, name=rel)
            except ValueError as err:
                raise InputError(f"{rel}:{line}: cannot edit the {VERSION_LABEL} label in place: {err}") from None
            notes.append(f"{rel}:{line}: {VERSION_LABEL} {value} -> {plan.build}")
    edited = load_text(new_text, rel)[0]
    after = edited.data["images"][index]
    lines = new_text.split("\n")

    def put(number: int, make: Callable[[str], str]) -> None:
        line = lines[number - 1]
        body = line.removesuffix("\r")
        lines[number - 1] = make(body) + line[len(body):]

    if after.get("newTag") is not None:
        number = edited.position(("images", index, "newTag"))[0]
        known = str(after["digest"]) if after.get("digest") else plan.recorded
        was = recorded_digest(_line(new_text, number))
        if was and not known:
            notes.append(f"{rel}:{number}: removed the digest recorded there ({was}): it is not known to be tag "
                         f"{after['newTag']}'s (give <tag>@sha256:<64 hex> to record it)")
        if was or (known and not after.get("digest")):
            put(number, lambda body: with_recorded_digest(body, known))
    if after.get("digest"):
        number = edited.position(("images", index, "digest"))[0]
        if recorded_digest(_line(new_text, number)) not in (None, after["digest"]):
            put(number, lambda body: with_recorded_digest(body, None))
    if plan.build is not None:
        build, by_digest = plan.build, bool(after.get("digest"))
        above = edited.position(("images", index))[0] - 2  # the line above the entry's first key, 0-based
        if above >= 0 and lines[above].strip() == "-":
            above -= 1
        while above >= 0 and lines[above].lstrip().startswith("#"):
            put(above + 1, lambda body: restate_build(body, olds, build, by_digest))
            above -= 1
    result = "\n".join(lines)
    if load_text(result, rel)[0].data != edited.data:  # only comments were to change
        raise InputError(f"{rel}: cannot edit the comments of the images: entry in place; file left unchanged")
    return result, notes


def _edit_image(repo: Repo, kz: Kustomize, environment: Environment, app: str,
                plan_for: Callable[[str, str, Document, int], _Plan], name: str | None, jobs: int | None,
                notes: tuple[str, ...] = ()) -> EditResult:
    """Edit `app`'s images: entry in `environment` as `plan_for(rel, text, document, index)` says, keeping the recorded
    digest, the version label and the comment above the entry in step (`_rewrite`); check, write, render."""
    overlay = _overlay(environment, app)
    path, rel = overlay.kustomization()
    text, data = _read(path, rel)
    index = _entry(data, rel, app, name)
    entry = data["images"][index]
    plan = plan_for(rel, text, load_text(text, rel)[0], index)
    new_text, rewritten = _rewrite(text, rel, index, plan)
    changes = plan.changes
    after = {key: value for key, value in entry.items() if changes.get(key) is not DELETE}
    after.update({key: value for key, value in changes.items() if value is not DELETE})
    notes = (*notes, *plan.notes, *rewritten)
    result = EditResult(rel, environment.name, app, format_entry(entry), format_entry(after), new_text != text,
                        notes=notes)
    if new_text == text:
        return result
    _check_with(repo, {rel: new_text}, [environment.name], kz, jobs, f"setting {app}'s image in {environment.name}")
    with signals_as_interrupts():
        steps = steps_done()
        try:
            with signals_held():
                write_atomic(path, new_text)
            changed = _render(repo, [environment], kz, jobs, f"wrote {rel}")
        except KeyboardInterrupt:
            if steps_done() == steps:
                raise  # before the overlay was replaced: nothing was written
            if steps_done() == steps + 1:
                raise Interrupted(f"{rel} was written, {environment.name} was not re-rendered (rendered/ and "
                                  f"clusters/ unchanged); run `invoke render env={environment.name}`") from None
            raise Interrupted(f"{rel} was written and {environment.name} re-rendered") from None
    return EditResult(result.path, result.env, app, result.before, result.after, True, changed, notes)


def set_image(repo: Repo, kz: Kustomize, env: str, app: str, image: str,
              digest_envs: tuple[str, ...] = DEFAULT_DIGEST_ENVS, jobs: int | None = None) -> EditResult:
    """Point `app`'s image in `env` at `image` (a tag, a digest, `<tag>@<digest>` or a full reference).

    The tag's digest is recorded on the `newTag:` line when `image` gives both; a digest recorded there for the
    tag before is kept only when the tag stays the same and nothing says it is another build's (`_doubt`). With a
    tag, the version label and the comment above the entry name it from then on.

    Raises UsageError for an unknown env or app, a malformed reference, a tag where `env` needs a digest;
    InputError when the overlay has no images: entry or the result would not check clean (nothing written).
    """
    environment = repo.select_env(env)
    ref = parse_image(image)
    _require_digest(repo, environment.name, ref, tuple(digest_envs))

    def plan_for(rel: str, text: str, doc: Document, index: int) -> _Plan:
        entry = doc.data["images"][index]
        recorded, notes = (ref.digest if ref.tag else None), []
        if not ref.digest and entry.get("newTag") is not None and str(entry["newTag"]) == ref.tag:
            line = doc.position(("images", index, "newTag"))[0]
            recorded = recorded_digest(_line(text, line))
            doubt = recorded and _doubt(repo, rel, doc, index, ref.tag, recorded)
            if doubt:
                notes.append(f"{rel}:{line}: the digest recorded for tag {ref.tag} may be another build's: {doubt}")
                recorded = None
        return _Plan(_changes(entry, ref), recorded, ref.tag, tuple(notes))

    return _edit_image(repo, kz, environment, app, plan_for, ref.name, jobs)


def promote(repo: Repo, kz: Kustomize, app: str, source: str, target: str,
            digest_envs: tuple[str, ...] = DEFAULT_DIGEST_ENVS, jobs: int | None = None) -> EditResult:
    """Copy `app`'s image reference from environment `source` to `target` (see the module docstring for how
    a tag is resolved to a digest when `target` requires digests), with the digest recorded for the tag, and the
    build it names in the target's version label and the comment above its entry.

    Raises InputError (nothing written) when `target` requires a digest and none is known for the source's tag,
    or when the digest recorded for that tag may be another build's (`_doubt`).
    """
    src, dst = repo.select_env(source), repo.select_env(target)
    if src.name == dst.name:
        raise UsageError(f"cannot promote {app} from {src.name} to itself; name two different environments")
    overlay = _overlay(src, app)
    _overlay(dst, app)
    path, rel = overlay.kustomization()
    text, data = _read(path, rel)
    index = _entry(data, rel, app, None)
    doc = load_text(text, rel)[0]
    entry = data["images"][index]
    tag = None if entry.get("newTag") is None else str(entry["newTag"])
    digest = str(entry["digest"]) if entry.get("digest") else None
    labels = [value for _, value in version_labels(data)]
    build = tag or (labels[0] if labels else None)
    notes: list[str] = []
    recorded = None
    if tag is not None and not digest:
        line = doc.position(("images", index, "newTag"))[0]
        recorded = recorded_digest(_line(text, line))
        doubt = recorded and _doubt(repo, rel, doc, index, tag, recorded)
        if doubt:
            raise InputError(
                f"{rel}:{line}: refused: the digest recorded on this line ({recorded}) was written for another build "
                f"than tag {tag}: {doubt}. Nothing was written. Record {tag}'s own digest on that line, remove the "
                f"comment, or run `invoke set-image {dst.name} {app} {tag}@sha256:<64 hex>`"
            )
    why = digest_required(repo, dst.name, tuple(digest_envs))
    if why:
        if tag is not None and not digest:
            if not recorded:
                raise InputError(
                    f"{rel}: {src.name} runs {app} by tag {tag!r} without a recorded digest, and {dst.name} takes "
                    f"only digests ({why}). Pin {src.name} by digest, write the digest down on the newTag line "
                    f"(`newTag: \"{tag}\"  # digest: sha256:<64 hex>`), or run "
                    f"`invoke set-image {dst.name} {app} {tag}@sha256:<64 hex>`"
                )
            digest = recorded
            notes.append(f"resolved tag {tag} to {digest} (recorded in {rel}:{line})")
        if not digest:
            raise InputError(f"{rel}: {src.name} gives {app} no tag or digest; nothing to promote")
        ref = ImageRef(None, None, digest)
    else:
        if tag is None and not digest:
            raise InputError(f"{rel}: {src.name} gives {app} no tag or digest; nothing to promote")
        ref = ImageRef(None, tag, digest)
    new_name = entry.get("newName")

    def plan_for(_rel: str, _text: str, target_doc: Document, target_index: int) -> _Plan:
        target_entry = target_doc.data["images"][target_index]
        changes = _changes(target_entry, ref)
        if new_name is not None or "newName" in target_entry:
            changes["newName"] = new_name if new_name is not None else DELETE
        return _Plan(changes, digest or recorded, build)

    return _edit_image(repo, kz, dst, app, plan_for, str(entry.get("name")), jobs, tuple(notes))


# Adding a new app.

def new_app(repo: Repo, kz: Kustomize, name: str, image: str | None = None,
            digest_envs: tuple[str, ...] = DEFAULT_DIGEST_ENVS, image_prefix: str = DEFAULT_IMAGE_PREFIX,
            jobs: int | None = None) -> NewAppResult:
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
    _refuse_reserved(repo, name)
    ref = parse_image(image) if image else None
    if ref is not None and ref.name is not None and ref.name != f"{image_prefix.rstrip('/')}/{name}":
        raise UsageError(f"image {ref.name!r}: a new app's image is {image_prefix.rstrip('/')}/{name}; "
                         "give only the tag and/or digest")
    needs = [e for e in repo.env_names() if digest_required(repo, e, tuple(digest_envs))]
    if needs and (ref is None or not ref.digest):
        raise UsageError(f"{', '.join(needs)} take only images pinned by digest (gitops.digest_envs, PHX-V04): "
                         "give the first release as --image <tag>@sha256:<64 hex>")
    files = scaffold(repo, name, ref, needs, image_prefix)
    envs = repo.select_envs(ALL)
    _check_with(repo, files, [e.name for e in envs], kz, jobs, f"the scaffold of {name}")
    edits = {rel: text for rel, text in files.items() if (repo.root / rel).exists()}  # the environment files
    folders = sorted({rel.rsplit("/", 1)[0] for rel in files if rel not in edits})
    created: list[Path] = []
    edited: dict[Path, str] = {}
    with signals_as_interrupts():
        steps = steps_done()
        try:
            for rel, text in sorted(edits.items()):
                path = repo.root / rel
                with signals_held(step=False):  # written and recorded, for the restore below
                    original = path.read_text(encoding="utf-8")
                    write_atomic(path, text)
                    edited[path] = original
            for folder in folders:
                target = repo.root / folder
                with signals_held(step=False):  # created and recorded, for the removal below
                    create_folder(target, {rel.rsplit("/", 1)[1]: text.encode("utf-8")  # fails if it appeared
                                           for rel, text in files.items() if rel.rsplit("/", 1)[0] == folder})
                    created.append(target)
            changed = rendering.render(repo, repo.select_envs(ALL), kz, jobs=jobs).changed  # the apps declared
        except BaseException as err:
            if isinstance(err, KeyboardInterrupt) and steps_done() > steps:  # the render swapped its output in
                raise Interrupted(f"{name} was created ({', '.join(folders)}) and every environment "
                                  "re-rendered") from None
            with signals_held(step=False):
                for target in reversed(created):
                    shutil.rmtree(target, ignore_errors=True)
                for path, original in edited.items():
                    write_atomic(path, original)
            if isinstance(err, GitopsError):
                err.args = (f"nothing was written: {err}",)
            raise
    return NewAppResult(name, tuple(sorted(set(files) - set(edits))), changed, tuple(sorted(edits)))
