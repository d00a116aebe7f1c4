"""Rendered diffs for review: what a change does to the manifests each cluster syncs, per env, app and resource.

Two comparisons, both through the project's own pipeline (`check.run_check` with the real kustomize), never
writing into `rendered/`:

- `diff_revisions`: a base revision (default: the merge-base of HEAD with `main`) against the working tree,
  uncommitted edits included. The base is checked out into a temporary `git worktree` outside the user's work
  tree, and removed afterwards, also on an error or Ctrl-C.
- `diff_envs`: one environment against another (a promotion preview: what `to` would change to look like
  `from`), with the environment-specific noise normalised (see `env_normalisations`).

Resources are matched by (API group, kind, namespace, name); a generated ConfigMap/Secret by its name without
kustomize's content-hash suffix, so a changed literal is one changed resource, not one removed and one added.
Inside a resource, list items are matched as Kubernetes merges them (`merge_keys`: by `name`, else
`containerPort`, `mountPath` or `port`); a reorder is reported as a note, not a rewrite.

Masked is what `check` detects as a secret, with the same detector and the repository's policy
(`rules.secrets.repo_detector`): every value of a Secret's `data`/`stringData`; env values, ConfigMap keys,
annotations, labels, ExternalSecret template keys and `--flag=value` command-line arguments whose name is one of
the policy's `secretNames` (SECRET_KEY_BASE, CLOAK_KEY, *_PASS, *SIGNING_SALT, JOKEN_*, ...) or whose value has a
high-entropy run; and, in any string, tokens of a known format (`ghp_...`, `AKIA...`), private keys and the
credentials of URLs (userinfo and query-string credentials). The command line prints the result through its
redaction layer (`redaction.Redactor`), which also masks the repository's literal secret values. A masked value
that differs still shows as a changed line (`<masked>` -> `<masked, changed>`).

Usage:
    result = diff_revisions(repo, find_kustomize(), base=None)     # merge-base with main .. working tree
    result = diff_envs(repo, find_kustomize(), "staging", "prod", app="api")
    print(format_diff(result, "markdown"))                         # or "text"
    result.changed                                                 # True when anything differs
"""
from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .check import run_check
from .errors import GitopsError, InputError, ToolError, UsageError
from .findings import errors_in
from .gitrepo import GitRepo
from .kustomize import Kustomize
from .layout import ALL, Repo, env_name
from .merge_keys import item_key, list_key, matching_index
from .model import Rendered
from .rules.secrets import command_line, repo_detector
from .secret_detector import MASK, SecretDetector
from .yamlio import dump_yaml, load_text

__all__ = [
    "ResourceDiff", "AppDiff", "DiffResult", "diff_revisions", "diff_envs", "diff_rendered", "diff_resources",
    "format_diff", "FORMATS", "MASK", "MASK_CHANGED", "DEFAULT_BASE_BRANCH",
]

DEFAULT_BASE_BRANCH = "main"
MASK_CHANGED = "<masked, changed>"
CONTEXT_LINES = 3
MARKDOWN_LIMIT = 60_000
"""Characters of a Markdown report above which per-app diffs are left out (GitHub comments stop at 65,536)."""

_HASH_SUFFIX = re.compile(r"-[2456789bcdfghkmt]{10}$")
"""kustomize's content-hash name suffix of generated ConfigMaps and Secrets (its hash alphabet)."""


@dataclass(frozen=True)
class ResourceDiff:
    """One resource that differs: added, removed or changed, with its unified diff (secrets masked)."""

    label: str
    """`Kind/name`, e.g. `Deployment/api-web`."""
    status: str
    """`added`, `removed` or `changed`."""
    lines: tuple[str, ...]
    """The unified diff, `---`/`+++` headers included (empty when only `notes` differ)."""
    notes: tuple[str, ...] = ()
    """What a line diff cannot show: list items reordered, a generated name's hash changed."""


@dataclass(frozen=True)
class AppDiff:
    """One app in one environment (or, for `diff_envs`, one app across two)."""

    env: str
    app: str
    state: str
    """`added` (no overlay on the old side), `removed`, `changed` or `unchanged`."""
    resources: tuple[ResourceDiff, ...] = ()

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.resources)


@dataclass(frozen=True)
class DiffResult:
    """Everything one comparison found; `apps` holds every app compared, unchanged ones included."""

    old_label: str
    new_label: str
    envs: tuple[str, ...]
    apps: tuple[AppDiff, ...]
    notes: tuple[str, ...] = field(default=())
    """How the comparison was made (normalisations), shown above the diff."""

    @property
    def changed(self) -> bool:
        return any(a.state != "unchanged" for a in self.apps)

    def totals(self) -> dict[str, int]:
        return {s: sum(a.count(s) for a in self.apps) for s in ("added", "removed", "changed")}


# Comparing resources.

Key = tuple[str, str, str, str]


def _key(resource: dict[str, Any], origin: dict[str, str]) -> Key:
    """(group, kind, namespace, name) identifying a resource; a generated name without its content hash."""
    metadata = resource.get("metadata") or {}
    name = str(metadata.get("name", ""))
    if "configuredIn" in origin:  # made by a configMapGenerator/secretGenerator
        name = _HASH_SUFFIX.sub("", name)
    group = str(resource.get("apiVersion", "")).rpartition("/")[0]
    return group, str(resource.get("kind", "")), str(metadata.get("namespace", "")), name


def _step(path: tuple[str, ...], key: str, value: Any) -> tuple[str, ...]:
    return path[:-1] + (f"{path[-1]}[{key}={value}]",) if path else (f"[{key}={value}]",)


def _align(old: Any, new: Any, path: tuple[str, ...], notes: list[str]) -> Any:
    """`old` with the items of its merge-keyed lists in `new`'s order (removed items stay after their
    predecessor), so a line diff shows only real changes; reorders are appended to `notes`."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {k: _align(v, new[k], path + (k,), notes) if k in new else v for k, v in old.items()}
    if not (isinstance(old, list) and isinstance(new, list)):
        return old
    key = list_key(old, new)
    if key is None:
        return [_align(o, n, path, notes) for o, n in zip(old, new, strict=False)] + old[len(new):]
    by_key = {item[key]: item for item in new}
    head: list[Any] = []
    groups: dict[Any, list[Any]] = {}
    current = None
    for item in old:
        k = item[key]
        if k in by_key:
            current = k
            groups[k] = [_align(item, by_key[k], _step(path, key, k), notes)]
        else:
            (groups[current] if current is not None else head).append(item)
    old_order = [item[key] for item in old if item[key] in by_key]
    new_order = [item[key] for item in new if item[key] in groups]
    if old_order != new_order:
        notes.append(f"{'.'.join(path)}: order changed from {', '.join(map(str, old_order))} "
                     f"to {', '.join(map(str, new_order))}")
    return head + [item for k in new_order for item in groups[k]]


def _counterpart(item: Any, index: int, other: Any, key: str | None) -> Any:
    if not isinstance(other, list):
        return _MISSING
    if key is None:
        return other[index] if index < len(other) else _MISSING
    found = matching_index(other, item, key)
    return other[found] if found is not None else _MISSING


_MISSING = object()
_NAMED_VALUES = {
    "*": (("metadata", "annotations"), ("metadata", "labels")),
    "ExternalSecret": (("metadata", "annotations"), ("metadata", "labels"), ("spec", "target", "template", "data")),
}
"""Mappings whose values are masked when their key names a secret (or the value is one by entropy), by kind, as
`rules.secrets.scanned` reads them for the SEC-* rules."""


def _mask_value(value: Any, other: Any, new_side: bool) -> str:
    return MASK_CHANGED if new_side and other is not _MISSING and other != value else MASK


def _mask(value: Any, other: Any, new_side: bool, kind: str, detector: SecretDetector,
          path: tuple[str, ...] = ()) -> Any:
    """A copy of `value` with every secret masked; `other` is the same place on the other side."""
    if isinstance(value, dict):
        result = {}
        entry_name = value.get("name") if isinstance(value.get("name"), str) else None
        for k, v in value.items():
            o = other.get(k, _MISSING) if isinstance(other, dict) else _MISSING
            secret = (
                (kind == "Secret" and path in (("data",), ("stringData",)))
                or (kind == "ConfigMap" and path in (("data",), ("binaryData",)) and detector.is_secret_value(k, v))
                or (entry_name is not None and k == "value" and detector.is_secret_value(entry_name, v))
                or (path in _NAMED_VALUES.get(kind, _NAMED_VALUES["*"]) and detector.is_secret_value(k, v))
            )
            result[k] = _mask_value(v, o, new_side) if secret else _mask(v, o, new_side, kind, detector, path + (k,))
        return result
    if isinstance(value, list) and path[-1:] in (("command",), ("args",)):
        named = {index for index, name, part in command_line(value, path[-1])
                 if name != path[-1] and detector.is_secret_value(name, part)}
        before = other if isinstance(other, list) else []
        value = [_mask_value(item, before[index] if index < len(before) else _MISSING, new_side)
                 if index in named else item for index, item in enumerate(value)]
    if isinstance(value, list):
        key = list_key(value, other if isinstance(other, list) else [])
        return [_mask(item, _counterpart(item, i, other, key), new_side, kind, detector, path + ("[]",))
                for i, item in enumerate(value)]
    found = detector.secrets_in(value) if isinstance(value, str) else []
    if found:
        theirs = detector.secrets_in(other) if isinstance(other, str) else None
        mark = MASK_CHANGED if new_side and theirs is not None and theirs != found else MASK
        return detector.redact(value, mark)
    return value


def _lines(resource: Any) -> list[str]:
    return dump_yaml(resource).splitlines() if resource is not None else []


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@$")


def _line_paths(resource: Any, lines: list[str]) -> tuple[dict[int, tuple[str | int, ...]], Any]:
    """{1-based line: the deepest JSON path that starts on it} of `dump_yaml(resource)`."""
    doc = load_text("\n".join(lines) + "\n", "<diff>")[0]
    found: dict[int, tuple[str | int, ...]] = {}
    for path, (line, _) in doc.lines.items():
        if len(path) >= len(found.get(line, ())):
            found[line] = path
    return found, doc.data


def _readable(data: Any, path: tuple[str | int, ...]) -> str:
    """`spec.template.spec.containers[name=app].image` for a JSON path into `data`."""
    text, node = "", data
    for part in path:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            key = item_key(item)
            text += f"[{key}={item[key]}]" if key and isinstance(item, dict) else f"[{part}]"
        else:
            text += f".{part}" if text else part
            item = node.get(part) if isinstance(node, dict) else None
        node = item
    return text


def _hunk_paths(lines: list[str], old: tuple[Any, list[str]], new: tuple[Any, list[str]]) -> list[str]:
    """Each `@@` header followed by the YAML path of its first changed line, as git names a function."""
    maps: dict[str, tuple[dict[int, tuple[str | int, ...]], Any]] = {}
    out = []
    for i, line in enumerate(lines):
        match = _HUNK.match(line)
        if not match:
            out.append(line)
            continue
        at = {"-": int(match.group(1)), "+": int(match.group(2))}
        where = ""
        for body in lines[i + 1:]:
            if body.startswith("@@"):
                break
            if body[:1] in "-+":
                side = body[:1]
                if side not in maps:
                    maps[side] = _line_paths(*(old if side == "-" else new))
                paths, data = maps[side]
                line_no = at[side]
                while line_no > 0 and line_no not in paths:
                    line_no -= 1
                where = _readable(data, paths.get(line_no, ()))
                break
            at["-"] += 1
            at["+"] += 1
        out.append(f"{line} {where}" if where else line)
    return out


def diff_resources(
    old: Iterable[tuple[dict[str, Any], dict[str, str]]],
    new: Iterable[tuple[dict[str, Any], dict[str, str]]],
    old_prefix: str = "a",
    new_prefix: str = "b",
    detector: SecretDetector | None = None,
) -> list[ResourceDiff]:
    """The resources that differ between two renders of one app, each given as (resource, origin) pairs.

    Added and changed resources come in the new render's order, removed ones after them in the old order. Secrets
    are masked as `detector` finds them (default: the detector's defaults).
    """
    detector = detector or SecretDetector()
    before = {_key(resource, origin): resource for resource, origin in old}
    after = {_key(resource, origin): resource for resource, origin in new}
    result = []
    for key in [*after, *(k for k in before if k not in after)]:
        o, n = before.get(key), after.get(key)
        notes: list[str] = []
        shown = n if n is not None else o or {}
        name = str((shown.get("metadata") or {}).get("name", ""))
        label = f"{key[1]}/{name}"
        aligned = _align(copy.deepcopy(o), n, (), notes) if o is not None and n is not None else o
        masked_old = (_mask(aligned, n if n is not None else _MISSING, False, key[1], detector)
                      if o is not None else None)
        masked_new = (_mask(n, aligned if o is not None else _MISSING, True, key[1], detector)
                      if n is not None else None)
        if o is not None and n is not None:
            old_name = str((o.get("metadata") or {}).get("name", ""))
            if old_name != name:
                notes.insert(0, f"generated name {old_name} -> {name} (kustomize's hash of the new content)")
        old_lines, new_lines = _lines(masked_old), _lines(masked_new)
        lines = list(difflib.unified_diff(
            old_lines, new_lines,
            fromfile=f"{old_prefix}/{label}" if o is not None else "/dev/null",
            tofile=f"{new_prefix}/{label}" if n is not None else "/dev/null",
            lineterm="", n=CONTEXT_LINES,
        ))
        if o is not None and n is not None:
            lines = _hunk_paths(lines, (masked_old, old_lines), (masked_new, new_lines))
        if o is None or n is None or lines or notes:
            status = "added" if o is None else "removed" if n is None else "changed"
            result.append(ResourceDiff(label, status, tuple(lines), tuple(notes)))
    return result


# Whole renders.

Side = dict[str, dict[str, Rendered]]
"""{env: {app: Rendered}}."""


def diff_rendered(
    old: Side, new: Side, old_label: str, new_label: str, app: str | None = None, notes: Iterable[str] = (),
    detector: SecretDetector | None = None,
) -> DiffResult:
    """Compare two renders of several environments, app by app (only `app` when given), masking what `detector`
    finds (default: the detector's defaults)."""
    detector = detector or SecretDetector()
    envs = sorted(old.keys() | new.keys())
    apps = []
    for env in envs:
        names = sorted(old.get(env, {}).keys() | new.get(env, {}).keys())
        for name in names if app is None else [n for n in names if n == app]:
            o, n = old.get(env, {}).get(name), new.get(env, {}).get(name)
            apps.append(_app_diff(env, name, o, n, f"a/{env}/{name}", f"b/{env}/{name}", detector))
    return DiffResult(old_label, new_label, tuple(envs), tuple(apps), tuple(notes))


def _pairs(rendered: Rendered | None) -> list[tuple[dict[str, Any], dict[str, str]]]:
    return list(zip(rendered.resources, rendered.origins, strict=True)) if rendered is not None else []


def _app_diff(env: str, app: str, old: Rendered | None, new: Rendered | None, old_prefix: str,
              new_prefix: str, detector: SecretDetector) -> AppDiff:
    resources = tuple(diff_resources(_pairs(old), _pairs(new), old_prefix, new_prefix, detector))
    state = "added" if old is None else "removed" if new is None else "changed" if resources else "unchanged"
    return AppDiff(env, app, state, resources)


def _render(repo: Repo | None, env_names: list[str], kz: Kustomize, label: str, jobs: int | None) -> Side:
    """{env: {app: Rendered}} for `env_names` of `repo`, through the check pipeline. Overlays that could not
    be built raise InputError (a diff would otherwise show them as removed); other findings are left to check."""
    if repo is None or not env_names:
        return {}
    try:
        envs = repo.environments(env_names)
        report = run_check(repo, envs, kz, jobs=jobs, origins=True)
    except GitopsError as err:
        err.args = (f"{label}: {err}",)
        raise
    if report.tool_errors:
        raise ToolError(f"{label}: " + "\n".join(report.tool_errors))
    side: Side = {env: {r.overlay.app: r for r in rendered} for env, rendered in report.rendered_with_origins().items()}
    missing = [o for env in envs for o in env.overlays() if o.app not in side.get(env.name, {})]
    if missing:
        ids = {(o.env, o.app) for o in missing}
        problems = [f for f in errors_in(report.findings) if (f.env, f.app) in ids] or errors_in(report.findings)
        raise InputError(
            f"{label}: {', '.join(o.id for o in missing)} could not be rendered, so there is nothing to compare:\n"
            + "\n".join(str(f) for f in problems)
        )
    return side


def _select(names: Iterable[str], env: str) -> list[str]:
    """The environments of `names` that selector `env` names (`prod`, `env=prod`, `all`)."""
    known = sorted(set(names))
    wanted = env_name(env)
    if wanted == ALL:
        return known
    if wanted not in known:
        raise UsageError(f"unknown environment {wanted!r}; known: {', '.join(known)} (or {ALL})")
    return [wanted]


def _check_app(app: str | None, sides: Iterable[Side], envs: list[str]) -> None:
    if app is None:
        return
    known = sorted({name for side in sides for env in envs for name in side.get(env, {})})
    if app not in known:
        raise UsageError(f"unknown app {app!r} in {', '.join(envs)}; known: {', '.join(known) or 'none'}")


def diff_revisions(
    repo: Repo,
    kz: Kustomize,
    base: str | None = None,
    env: str = ALL,
    app: str | None = None,
    base_branch: str = DEFAULT_BASE_BRANCH,
    jobs: int | None = None,
) -> DiffResult:
    """The rendered difference between revision `base` (default: merge-base of HEAD and `base_branch`) and the
    working tree, for `env` (a name or `all`) and optionally one `app`.

    Raises UsageError when the repo is not in a git work tree, `base` names no commit, or `env`/`app` is unknown.
    """
    git = GitRepo.of(repo.root)
    if base:
        commit = git.resolve(base)
        how = base
    else:
        commit = git.merge_base(base_branch)
        how = f"merge-base of HEAD and {base_branch}"
    old_label = f"{git.describe(commit)} ({how})"
    with git.worktree(commit) as tree:
        root = tree / git.prefix if git.prefix else tree
        try:
            base_repo: Repo | None = Repo(root)
        except UsageError:  # the base revision has no overlays/ yet: everything is added
            base_repo = None
        base_names = base_repo.env_names() if base_repo else []
        names = _select([*base_names, *repo.env_names()], env)
        old = _render(base_repo, [n for n in names if n in base_names], kz, f"base revision {commit[:10]}", jobs)
    new = _render(repo, [n for n in names if n in repo.env_names()], kz, "working tree", jobs)
    _check_app(app, (old, new), names)
    return diff_rendered(old, new, old_label, "working tree", app, detector=repo_detector(repo.root))


# Environment against environment.

def env_normalisations(repo: Repo, source: str, target: str) -> list[tuple[str, str]]:
    """The (from, to) string replacements that make `source`'s render read like `target`'s.

    Justified because these differ by construction, not by choice: the base domain (hosts are
    `<app>.<baseDomain>`, `PHX_HOST`) and the environment's name as a whole word (secret store `vault-<env>`,
    secret key `phoenix/<env>/<app>`, labels such as `env: <env>`).
    """
    src, dst = repo.environment(source), repo.environment(target)
    pairs = []
    if src.base_domain != dst.base_domain:
        pairs.append((src.base_domain, dst.base_domain))
    pairs.append((source, target))
    return pairs


def _replace_strings(value: Any, rules: list[tuple[re.Pattern[str], str]]) -> Any:
    if isinstance(value, dict):
        return {k: _replace_strings(v, rules) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_strings(v, rules) for v in value]
    if isinstance(value, str):
        for pattern, replacement in rules:
            value = pattern.sub(replacement, value)
    return value


def _normalised(rendered: Rendered, rules: list[tuple[re.Pattern[str], str]]) -> Rendered:
    """`rendered` with `rules` applied to every string value and generated names' hash suffixes as `-<hash>`."""
    generated = {}
    for resource, origin in zip(rendered.resources, rendered.origins, strict=True):
        name = str((resource.get("metadata") or {}).get("name", ""))
        if "configuredIn" in origin and _HASH_SUFFIX.search(name):
            generated[re.compile(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])")] = _HASH_SUFFIX.sub("-<hash>", name)
    hashes = list(generated.items())
    resources = tuple(_replace_strings(r, [*rules, *hashes]) for r in rendered.resources)
    return Rendered(rendered.overlay, rendered.text, resources, rendered.origins)


def diff_envs(
    repo: Repo,
    kz: Kustomize,
    source: str,
    target: str,
    app: str | None = None,
    normalise: bool = True,
    jobs: int | None = None,
) -> DiffResult:
    """What `target` would change to look like `source` (a promotion preview), per app and resource.

    With `normalise`, `source`'s base domain and its name as a whole word are rewritten to `target`'s, and
    generated names' hash suffixes read `-<hash>` on both sides, so what remains is what a promotion would
    really carry over, or what differs on purpose (sizes, replicas); the notes say what was rewritten.
    """
    names = repo.env_names()
    source, target = env_name(source), env_name(target)
    for name in (source, target):
        if name == ALL:
            raise UsageError(f"--from and --to each name one environment, not {ALL!r}")
        _select(names, name)
    if source == target:
        raise UsageError(f"--from and --to are both {source!r}; name two different environments")
    side = _render(repo, [source, target], kz, "working tree", jobs)
    _check_app(app, (side,), [source, target])
    notes: list[str] = []
    old, new = side.get(target, {}), side.get(source, {})
    if normalise:
        pairs = env_normalisations(repo, source, target)
        rules = [(re.compile(rf"(?<![A-Za-z0-9]){re.escape(a)}(?![A-Za-z0-9])"), b) for a, b in pairs]
        new = {name: _normalised(r, rules) for name, r in new.items()}
        old = {name: _normalised(r, []) for name, r in old.items()}
        notes = [f"normalised in {source}: " + ", ".join(f"'{a}' -> '{b}'" for a, b in pairs)
                 + " (whole words, in every value); generated names' hash suffixes read -<hash> on both sides"]
    label = f"{source} \u2192 {target}"
    detector = repo_detector(repo.root)
    apps = []
    for name in sorted(old.keys() | new.keys()):
        if app is None or name == app:
            apps.append(_app_diff(label, name, old.get(name), new.get(name), f"{target}/{name}", f"{source}/{name}",
                                  detector))
    return DiffResult(f"{target} (as it is)", f"{source} (what {target} would become)", (label,), tuple(apps),
                      tuple(notes))


# Formats.

def as_text(result: DiffResult) -> str:
    """A unified diff per resource, with `#` lines naming the env and app; a summary at the end."""
    out = [f"# --- {result.old_label}", f"# +++ {result.new_label}", *(f"# {note}" for note in result.notes)]
    for app in result.apps:
        if app.state == "unchanged":
            continue
        out.append(f"# {_title(app)}: {_counts(app)}" + (f" (app {app.state})" if app.state != "changed" else ""))
        for resource in app.resources:
            out += [f"# {resource.label}: {note}" for note in resource.notes]
            out += resource.lines
    out.append(f"# {_summary(result)}")
    return "\n".join(out) + "\n"


def _title(app: AppDiff) -> str:
    """`prod/api`, or `api (staging \u2192 prod)` for an environment comparison."""
    return f"{app.app} ({app.env})" if "\u2192" in app.env else f"{app.env}/{app.app}"


def _counts(app: AppDiff) -> str:
    return f"{app.count('added')} added, {app.count('removed')} removed, {app.count('changed')} changed"


def _summary(result: DiffResult) -> str:
    if not result.changed:
        return f"no changes in {len(result.apps)} app(s)"
    totals = result.totals()
    changed = sum(a.state != "unchanged" for a in result.apps)
    return (f"{totals['added']} resource(s) added, {totals['removed']} removed, {totals['changed']} changed "
            f"in {changed} of {len(result.apps)} app(s)")


def _fence(lines: Iterable[str]) -> str:
    longest = max((len(m) for line in lines for m in re.findall(r"`{3,}", line)), default=0)
    return "`" * max(3, longest + 1)


def as_markdown(result: DiffResult, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment: a summary table (apps x envs) and a collapsible section per changed app."""
    out = ["### Rendered diff", "", f"**from** {_md(result.old_label)}<br>**to** {_md(result.new_label)}", ""]
    out += [f"> {_md(note)}" for note in result.notes] + ([""] if result.notes else [])
    out.append(f"**{_summary(result)}**")
    out.append("")
    apps = sorted({a.app for a in result.apps})
    cells = {(a.env, a.app): a for a in result.apps}
    out.append("| app | " + " | ".join(result.envs) + " |")
    out.append("|---|" + "---|" * len(result.envs))
    for name in apps:
        row = []
        for env in result.envs:
            app = cells.get((env, name))
            if app is None:
                row.append("")
            elif app.state == "unchanged":
                row.append("no change")
            else:
                marker = {"added": "new app: ", "removed": "app removed: "}.get(app.state, "")
                row.append(f"{marker}+{app.count('added')} \u2212{app.count('removed')} ~{app.count('changed')}")
        out.append(f"| {name} | " + " | ".join(row) + " |")
    out.append("")
    out.append("Counts are resources: +added \u2212removed ~changed. Secret values are masked.")
    changed = [app for app in result.apps if app.state != "unchanged"]
    sections = [_md_section(app) for app in changed]
    size = sum(len(line) + 1 for line in out)
    for app, section in zip(changed, sections, strict=True):
        if size + len(section) > limit:
            section = (f"\n<details><summary><b>{_title(app)}</b>: {_counts(app)}</summary>\n\n"
                       "The diff is too large for a comment; run `invoke diff` locally to see it.\n\n</details>")
        size += len(section)
        out.append(section)
    return "\n".join(out) + "\n"


def _md_section(app: AppDiff) -> str:
    parts = [f"\n<details><summary><b>{_title(app)}</b>: {_counts(app)}"
             + (f" (app {app.state})" if app.state != "changed" else "") + "</summary>\n"]
    for resource in app.resources:
        sign = {"added": "+", "removed": "\u2212", "changed": "~"}[resource.status]
        parts.append(f"**{sign} {_md(resource.label)}** ({resource.status})\n")
        parts += [f"- {_md(note)}" for note in resource.notes]
        if resource.notes:
            parts.append("")
        if resource.lines:
            fence = _fence(resource.lines)
            parts.append(f"{fence}diff\n" + "\n".join(resource.lines) + f"\n{fence}\n")
    parts.append("</details>")
    return "\n".join(parts)


def _md(text: str) -> str:
    """Plain text for Markdown: no HTML, emphasis, code spans or table cells can start inside it."""
    return re.sub(r"([\\`*_|\[\]])", r"\\\1", text).replace("<", "&lt;").replace(">", "&gt;")


FORMATS = {"text": as_text, "markdown": as_markdown}


def format_diff(result: DiffResult, fmt: str) -> str:
    """`result` as `text` or `markdown`; UsageError for another format."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return FORMATS[fmt](result)
