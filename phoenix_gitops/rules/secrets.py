"""Secrets rules: no plaintext Secret or secret literal anywhere in git; ESO, Sealed Secrets and SOPS done right.

Values are read, never repeated: every message names the rule, the key and the place, and shows a matched value
as `****` at most. Scanned values are the literal `env[].value` of every container of every workload, the `data`
of every ConfigMap (generated ones included), the annotations and labels of every resource and of every pod
template, container `command` and `args` (flags, and the words of a shell line: `export DB_PASSWORD=...`,
`--api-token ...`, `mysql -p...`),
and the templates of ExternalSecrets and ClusterExternalSecrets (`template.data`, `templateFrom[].literal`);
Secrets themselves are rule V06. What makes a name or a value secret is `secret_detector`'s, configured by the
policy (`secretNames`, `entropy`); `diff` masks with the same one. An annotation or label key is named by its last
segment (`example.org/db-password` is `DB_PASSWORD`); a name alone makes a secret of its value there (and in a
shell word) only when the value could be one: not a boolean, a number, a duration or a path.

Besides the values, the rules here check what leaves a secret open: a secret-named variable set to an empty value
(it also overrides the Secret an `envFrom` would give), and a database container told to trust every client.

The SOPS checks follow the file format: a document is SOPS-encrypted when it has a top-level `sops:` mapping with
`sops.mac`, and every value it encrypts (all values except keys ending in `_unencrypted`, or as `encrypted_regex`,
`unencrypted_regex`, `encrypted_suffix` say; a Secret's `data`/`stringData` always) is `ENC[...]` or empty. A
dotenv file is SOPS-encrypted when it has a `sops_mac=ENC[...]` line and every other value is `ENC[...]`.

Usage:
    from phoenix_gitops.rules import secrets
    list(secrets.secret_name(view))      # Hit(..., "env SECRET_KEY_BASE has a literal value (****) ...")
    secrets.repo_detector(repo.root)     # the SecretDetector of that repository's policy
"""
from __future__ import annotations

import posixpath
import re
import shlex
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from ..findings import json_path
from ..secret_detector import SecretDetector, is_literal
from ..sourcemap import Location
from ..yamlio import MAX_BYTES, YamlError, iter_paths, load_text
from .model import (
    JsonPath,
    Res,
    View,
    as_dict,
    as_list,
    containers_of,
    each_app,
    kustomization_docs,
    migrates,
    pod_spec_path,
)
from .policy import load_policy, policy_file
from .registry import CATALOGUE, Hit, rule

__all__ = ["command_line", "sops_problems", "repo_detector", "scanned", "Scanned", "plausible_secret"]

_ENC = re.compile(r"^ENC\[[A-Za-z0-9_]+,data:.*\]$", re.S)
_SEALED_SCOPE = "sealedsecrets.bitnami.com/"
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_PHOENIX_SECRETS = ("SECRET_KEY_BASE", "DATABASE_URL", "RELEASE_COOKIE")
_FLAG = re.compile(r"^-{0,2}(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)(?:=(?P<value>.*))?$", re.S)
_LONG_FLAG = re.compile(r"^--(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)(?:=(?P<value>.*))?$", re.S)
_ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$", re.S)
_MYSQL_CLIENTS = {"mysql", "mysqldump", "mysqladmin", "mariadb", "mariadb-dump", "mariadb-admin"}
_NOT_A_SECRET = re.compile(
    r"^(?:true|false|yes|no|on|off|enabled?|disabled?|none|null|[-+]?\d+(?:\.\d+)?(?:[a-z]{1,2}|%)?|"
    r"/\S*|[\w.-]+(?:/[\w.-]+)+/?)$", re.I)
"""Values a name alone does not make a secret of in an annotation, a label or a shell word: booleans, numbers,
sizes and durations, paths (`vault.hashicorp.com/agent-inject-secret-db-password: database/creds/app`)."""


def repo_detector(root: Path) -> SecretDetector:
    """The SecretDetector of the repository at `root`: its policy's `secretNames` and `entropy` limits (the
    detector's defaults when the policy cannot be read; `check` reports why)."""
    policy, _ = load_policy(*policy_file(root))
    return SecretDetector.from_settings(policy.setting) if policy is not None else SecretDetector()


def _detector(view: View) -> SecretDetector:
    detector: SecretDetector | None = view.memo.get("secret detector")
    if detector is None:
        detector = view.memo["secret detector"] = SecretDetector.from_settings(view.setting)
    return detector


def _scan(view: View, problem: Callable[[SecretDetector, str, str], str | None], full_key: bool = False
          ) -> Iterator[Hit]:
    """A hit for every scanned value (`scanned`) in which `problem(detector, name, value)` finds a secret (`name` is
    the entry's `name`, or its whole `key` with `full_key`); the detector is the policy's (`secretNames`,
    `entropy`). One hit per place: a shell line and a word of it are one value."""
    detector = _detector(view)
    seen: set[tuple[int, JsonPath]] = set()
    for entry in scanned(view):
        if (id(entry.res), entry.path) in seen:
            continue
        found = problem(detector, entry.key if full_key else entry.name, entry.value)
        if found:
            seen.add((id(entry.res), entry.path))
            yield Hit(entry.res, entry.path, f"{entry.what} {entry.key} {found}")


def plausible_secret(value: str) -> bool:
    """Whether `value` could be a credential when only the name it sits under says so: a literal that is not a
    boolean, a number, a size or duration, or a path.

    >>> [plausible_secret(v) for v in ("hunter2-x", "true", "3600", "30s", "database/creds/app", "$(TOKEN)")]
    [True, False, False, False, False, False]
    """
    return is_literal(value) and not _NOT_A_SECRET.match(value.strip())


# What gets scanned ------------------------------------------------------------------------------------------


class Scanned(NamedTuple):
    """One scanned value: on `res` at `path`, under `key` (an env name, a ConfigMap or annotation key, a flag),
    described as `what` (`env`, `annotation`, `args`, ...)."""

    res: Res
    path: JsonPath
    key: str
    value: str
    what: str

    @property
    def name(self) -> str:
        """The name the secret names are matched against: an annotation's or label's last segment in capitals with
        `_` for `-` and `.` (`example.org/db-password` -> `DB_PASSWORD`), else the key."""
        if self.what in ("annotation", "label"):
            return _flag_key(self.key.rsplit("/", 1)[-1])
        return self.key

    @property
    def needs_plausible(self) -> bool:
        """Whether a name alone makes a secret of the value only when it could be one (`plausible_secret`)."""
        return self.what in ("annotation", "label") or self.path[-2:-1] in (("command",), ("args",))


def _metadata_values(res: Res, at: JsonPath, prefix: str) -> list[Scanned]:
    """The string annotations and labels of the metadata at `at` (the last-applied configuration left out)."""
    metadata = as_dict(res.get(at))
    return [Scanned(res, (*at, part, key), str(key), value, f"{prefix}{what}")
            for part, what in (("annotations", "annotation"), ("labels", "label"))
            for key, value in as_dict(metadata.get(part)).items()
            if isinstance(value, str) and key != _LAST_APPLIED]


def scanned(view: View) -> list[Scanned]:
    """Every scanned value of the view: literal env values, ConfigMap values, annotations and labels of every
    resource, container command and args (`--name=value` and `--name value` are keyed by the flag's name, and so
    are the flags and assignments of a shell line), and the templates of ExternalSecrets and ClusterExternalSecrets."""
    cache: list[Scanned] | None = view.memo.get("scanned")
    if cache is not None:
        return cache
    found: list[Scanned] = []
    for res in view.resources:
        found += _metadata_values(res, ("metadata",), "")
    for res in view.workloads:
        spec_path = pod_spec_path(res)
        if spec_path is not None and spec_path != ("spec",):  # a pod template's own labels and annotations
            found += _metadata_values(res, spec_path[:-1] + ("metadata",), "pod template ")
        for path, container in containers_of(res):
            for index, entry in enumerate(as_list(container.get("env"))):
                if isinstance(entry, dict) and isinstance(entry.get("value"), str):
                    found.append(Scanned(res, path + ("env", index, "value"), str(entry.get("name", "")),
                                         entry["value"], "env"))
            for part in ("command", "args"):
                found += [Scanned(res, path + (part, index), key, value, part)
                          for index, key, value in command_line(as_list(container.get(part)), part)]
    for cm in view.of_kind("ConfigMap"):
        for key, value in as_dict(cm.data.get("data")).items():
            if isinstance(value, str):
                found.append(Scanned(cm, ("data", key), str(key), value, "ConfigMap key"))
    for kind, spec_path in (("ExternalSecret", ("spec",)), ("ClusterExternalSecret", ("spec", "externalSecretSpec"))):
        for es in view.of_kind(kind):
            base = spec_path + ("target", "template")
            template = as_dict(es.get(base))
            for key, value in as_dict(template.get("data")).items():
                if isinstance(value, str):
                    found.append(Scanned(es, base + ("data", key), str(key), value, f"{kind} template key"))
            for index, source in enumerate(as_list(template.get("templateFrom"))):
                literal = as_dict(source).get("literal")
                if isinstance(literal, str):
                    found.append(Scanned(es, base + ("templateFrom", index, "literal"), "literal", literal,
                                         f"{kind} template"))
    view.memo["scanned"] = found
    return found


def command_line(items: list[Any], part: str) -> Iterator[tuple[int, str, str]]:
    """(index, key, value) of each string of a command or args list: `--db-password=x` and `--db-password x` are
    keyed `DB_PASSWORD`, `KEY=x` is keyed `KEY`; anything else is keyed by `part` itself. A string with spaces (a
    shell line) also gives its words that carry a name: `DB_PASSWORD=x` and `export DB_PASSWORD=x`,
    `--db-password=x` and `--db-password x`, a MySQL client's `-px` (keyed `PASSWORD`); a word that the shell
    expands (`$VAR`, `$(cmd)`, backquotes) is no value."""
    flag = None
    for index, item in enumerate(items):
        if not isinstance(item, str):
            flag = None
            continue
        match = _FLAG.match(item)
        if match and match.group("value") is not None:
            yield index, _flag_key(match.group("name")), match.group("value")
        elif flag is not None and not item.startswith("-"):
            yield index, flag, item
        else:
            yield index, part, item
        if any(c.isspace() for c in item.strip()):
            for key, value in _shell_words(item):
                yield index, key, value
        flag = _flag_key(match.group("name")) if match and match.group("value") is None and item.startswith("-") \
            else None


def _shell_words(line: str) -> Iterator[tuple[str, str]]:
    """(key, value) of the words of a shell line that carry a name (see `command_line`)."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:  # an unbalanced quote: read it as plain words
        words = line.split()
    flag, client = None, False
    for word in words:
        word = word.rstrip(";")
        assignment, long_flag = _ASSIGNMENT.match(word), _LONG_FLAG.match(word)
        found: tuple[str, str] | None = None
        if assignment:
            found = (assignment.group("name").upper(), assignment.group("value"))
        elif long_flag and long_flag.group("value") is not None:
            found = (_flag_key(long_flag.group("name")), long_flag.group("value"))
        elif flag is not None and not word.startswith("-"):
            found = (flag, word)
        elif client and word.startswith("-p") and len(word) > 2 and not word.startswith("--"):
            found = ("PASSWORD", word[2:])
        if found and found[1] and not any(c in found[1] for c in "$`"):
            yield found
        flag = _flag_key(long_flag.group("name")) if long_flag and long_flag.group("value") is None else None
        if word in ("&&", "||", "|", ";") or word.endswith(";"):
            client = False
        elif posixpath.basename(word) in _MYSQL_CLIENTS:
            client = True


def _flag_key(name: str) -> str:
    return name.replace("-", "_").replace(".", "_").upper()


# SOPS -----------------------------------------------------------------------------------------------------


def sops_problems(data: Any) -> list[tuple[JsonPath, str]]:
    """Why a document with a top-level `sops:` is not fully encrypted: [(path, message)] (empty when it is)."""
    if not isinstance(data, dict) or not isinstance(data.get("sops"), dict):
        return [((), "no top-level sops: mapping")]
    config = data["sops"]
    problems: list[tuple[JsonPath, str]] = []
    mac = config.get("mac")
    if not (isinstance(mac, str) and _ENC.match(mac)):
        problems.append((("sops",), "sops.mac is missing: the file is not a complete SOPS encryption"))
    try:
        patterns = {key: re.compile(str(config[key]))
                    for key in ("encrypted_regex", "unencrypted_regex") if config.get(key)}
    except re.error:
        return problems + [(("sops",), "sops has an invalid encrypted_regex/unencrypted_regex")]
    suffix = config.get("encrypted_suffix")
    plain_suffix = config.get("unencrypted_suffix") or "_unencrypted"
    secret = data.get("kind") == "Secret"
    for path, value in iter_paths(data):
        if not path or path[0] == "sops" or isinstance(value, (dict, list)) or value is None or value == "":
            continue
        keys = [str(p) for p in path if isinstance(p, str)]
        if secret and path[0] in ("data", "stringData"):
            encrypted = True
        elif "encrypted_regex" in patterns:
            encrypted = any(patterns["encrypted_regex"].search(k) for k in keys)
        elif "unencrypted_regex" in patterns:
            encrypted = not any(patterns["unencrypted_regex"].search(k) for k in keys)
        elif suffix:
            encrypted = any(k.endswith(str(suffix)) for k in keys)
        else:
            encrypted = not any(k.endswith(str(plain_suffix)) for k in keys)
        if path[0] in ("apiVersion", "kind", "metadata"):  # left readable for kustomize unless a regex says otherwise
            encrypted = encrypted and "encrypted_regex" in patterns
        if encrypted and not (isinstance(value, str) and _ENC.match(value)):
            problems.append((path, f"{json_path(path)} is not encrypted (plaintext next to SOPS ciphertext)"))
    return problems


def _dotenv(text: str) -> tuple[bool, list[tuple[int, str]]]:
    """(is SOPS, [(line, message)]) for a dotenv file."""
    lines = text.splitlines()
    is_sops = any(line.startswith("sops_mac=") for line in lines)
    problems = []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key, _, value = stripped.partition("=")
        if key.startswith("sops_"):
            if key == "sops_mac" and not _ENC.match(value):
                problems.append((number, "sops_mac is not an ENC[...] value"))
            continue
        if value and not _ENC.match(value):
            problems.append((number, f"{key} is not encrypted (plaintext next to SOPS ciphertext)"))
    return is_sops, problems


class _Input:
    """One file a secretGenerator reads, as judged: plaintext, or SOPS (with its problems)."""

    def __init__(self, doc: Any, path: JsonPath, rel: str, sops: bool, problems: list[tuple[Location, str]],
                 readable: bool = True) -> None:
        self.doc, self.path, self.rel = doc, path, rel
        self.sops, self.problems, self.readable = sops, problems, readable


def _generator_inputs(view: View) -> list[_Input]:
    cache: list[_Input] | None = view.memo.get("generator inputs")
    if cache is not None:
        return cache
    inputs: list[_Input] = []
    root = view.root.resolve()
    for doc in kustomization_docs(view):
        for g_index, generator in enumerate(as_list(doc.data.get("secretGenerator"))):
            if not isinstance(generator, dict):
                continue
            entries: list[tuple[JsonPath, str]] = [(("secretGenerator", g_index, "env"), str(generator["env"]))] \
                if isinstance(generator.get("env"), str) else []
            for key in ("envs", "files"):
                for index, entry in enumerate(as_list(generator.get(key))):
                    if isinstance(entry, str):
                        source = entry.split("=", 1)[1] if key == "files" and "=" in entry else entry
                        entries.append((("secretGenerator", g_index, key, index), source))
            for path, source in entries:
                inputs.append(_judge(doc, path, source, root))
    view.memo["generator inputs"] = inputs
    return inputs


def _judge(doc: Any, path: JsonPath, source: str, root: Path) -> _Input:
    folder = (root / doc.source).parent
    target = (folder / source).resolve()
    rel = source
    if not target.is_relative_to(root) or not target.is_file():
        return _Input(doc, path, rel, False, [], readable=False)
    rel = target.relative_to(root).as_posix()
    try:
        raw = target.read_bytes()[: MAX_BYTES + 1]
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return _Input(doc, path, rel, False, [])
    if target.suffix in (".yaml", ".yml", ".json") or text.lstrip().startswith("{"):
        try:
            docs = load_text(raw, rel)
        except YamlError:
            docs = []
        encrypted = [d for d in docs if isinstance(d.data, dict) and "sops" in d.data]
        if encrypted:
            problems = [(Location(rel, *d.position(p)), message)
                        for d in encrypted for p, message in sops_problems(d.data)]
            return _Input(doc, path, rel, True, problems)
        return _Input(doc, path, rel, False, [])
    is_sops, lines = _dotenv(text)
    return _Input(doc, path, rel, is_sops, [(Location(rel, line, 1), message) for line, message in lines])


# Rules ----------------------------------------------------------------------------------------------------


@rule(
    "PHX-V06", v="V06", family="phoenix", scope="rendered", defaults=("error", "error", "error"),
    title="No plaintext Secret and no plaintext secretGenerator input",
    why="""Base64 is not encryption: a Secret's `data`/`stringData`, a `secretGenerator` literal or an unencrypted
    env/file it reads is the secret itself, in git history forever, for everyone with read access to the repo.""",
    fix="""Create the Secret from an `ExternalSecret` (recommended), a `SealedSecret`, or a SOPS-encrypted file; a
    `secretGenerator` may only read SOPS-encrypted `envs`/`files`. Rotate any value that was committed.""",
    interpretation="""Checks the rendered Secrets (a Secret with a top-level `sops:` is left to SEC-SOPS; one made by
    a secretGenerator is judged at its source) and, as a source rule, every kustomization's `secretGenerator`. A
    non-sensitive Secret (e.g. a public CA bundle) can carry a suppression with its reason.""",
)
def v06(view: View) -> Iterator[Hit]:
    for res in view.of_kind("Secret"):
        if res.api_version != "v1" or "configuredIn" in res.origin or isinstance(res.data.get("sops"), dict):
            continue
        for key in ("data", "stringData"):
            values = as_dict(res.data.get(key))
            if values:
                yield Hit(res, (key,), f"{res.label} has plaintext {key} (keys {', '.join(sorted(map(str, values)))}; "
                          "values not shown)")
    for doc in kustomization_docs(view):
        for g_index, generator in enumerate(as_list(doc.data.get("secretGenerator"))):
            literals = [str(x) for x in (as_list(generator.get("literals")))] if isinstance(generator, dict) else []
            if literals:
                keys = ", ".join(sorted({x.split("=", 1)[0] for x in literals}))
                where = Location(doc.source, *doc.position(("secretGenerator", g_index, "literals")))
                yield Hit(None, (), f"secretGenerator {generator.get('name')!r} has literals (keys {keys}; "
                          "values not shown)", location=where)
    for item in _generator_inputs(view):
        if item.readable and not item.sops:
            yield Hit(None, (), f"secretGenerator reads {item.rel}, which is not SOPS-encrypted",
                      location=Location(item.doc.source, *item.doc.position(item.path)))


@rule(
    "PHX-V07", v="V07", family="phoenix", defaults=("error", "error", "error"),
    title="SECRET_KEY_BASE, DATABASE_URL and RELEASE_COOKIE come from a managed Secret",
    why="""These three are the app's keys: whoever has SECRET_KEY_BASE forges sessions, DATABASE_URL holds the
    database password, RELEASE_COOKIE grants remote code execution. A literal or a ConfigMap puts them in git; a Secret
    nobody manages is a Secret someone created by hand.""",
    fix="""Give C (and the migration Job, for the first two) `valueFrom.secretKeyRef` (or `envFrom.secretRef`) on a
    Secret made by an ExternalSecret, SealedSecret or SOPS file of the same build, or list a pre-provisioned Secret in
    the policy's `preProvisionedSecrets`.""",
)
def v07(view: View) -> Iterator[Hit]:
    targets: list[tuple[Res, JsonPath, tuple[str, ...]]] = [(app, c_path, _PHOENIX_SECRETS)
                                                             for app, c_path, _ in each_app(view)]
    for job in view.jobs:
        found = list(containers_of(job, ("containers",)))
        chosen = next((p for p, c in found if migrates(c)), found[0][0] if found else None)
        if chosen is not None:
            targets.append((job, chosen, _PHOENIX_SECRETS[:2]))
    for res, c_path, names in targets:
        for name in names:
            found_env = view.resolve(res, c_path, name)
            if found_env is None:
                yield Hit(res, c_path + ("env",), f"{name} is not set; take it from a managed Secret (secretKeyRef)")
            elif found_env.how in ("value", "configmap"):
                where = "env[].value" if found_env.how == "value" else f"ConfigMap {found_env.ref}"
                yield Hit(res, c_path + ("env",), f"{name} is given in {where} (value not shown); take it from a "
                          "managed Secret", at=(found_env.res, found_env.path))
            elif found_env.how == "secret" and found_env.ref and view.secret_source(found_env.ref) is None:
                yield Hit(res, c_path + ("env",), f"{name} reads Secret {found_env.ref!r}, which no ExternalSecret, "
                          "SealedSecret or SOPS file of this build makes and the policy does not list as "
                          "pre-provisioned", at=(found_env.res, found_env.path))


@rule(
    "SEC-SECRET-NAME", family="secrets", defaults=("error", "error", "error"),
    title="No literal value for a secret-named variable or ConfigMap key",
    why="""A variable named like a secret (`SECRET_KEY_BASE`, `RELEASE_COOKIE`, `*_PASSWORD`, `*_TOKEN`,
    `*_SECRET`, ...) with a literal value is a secret in git. Line-based scanners miss it in a Kubernetes env list,
    where the name and the value are on different lines.""",
    fix="Move the value into the secret store and read it with `valueFrom.secretKeyRef`; rotate the committed value.",
    interpretation="""The names are the policy's `secretNames` (glob patterns, case-insensitive); an annotation or
    label key is named by its last segment (`example.org/db-password` is `DB_PASSWORD`), a flag by its name
    (`--db-password`), in a command, its args or the words of a shell line. A value made only of
    `$(VAR)`/`${VAR}` references or `{{ ... }}` templates is not a literal; in annotations, labels and command
    lines a boolean, a number, a duration or a path is not one either. URLs are SEC-URL-CREDENTIALS' job.""",
)
def secret_name(view: View) -> Iterator[Hit]:
    detector = _detector(view)
    seen: set[tuple[int, JsonPath]] = set()
    for entry in scanned(view):
        if (id(entry.res), entry.path) in seen or not detector.is_secret_name(entry.name):
            continue
        if plausible_secret(entry.value) if entry.needs_plausible else is_literal(entry.value):
            seen.add((id(entry.res), entry.path))
            yield Hit(entry.res, entry.path, f"{entry.what} {entry.key} has a literal value (****); read it from a "
                      "Secret")


@rule(
    "SEC-URL-CREDENTIALS", family="secrets", defaults=("error", "error", "error"),
    title="No credentials in URLs",
    why="""`scheme://user:password@host` (a `DATABASE_URL`, `REDIS_URL`, ...) carries the password in clear; it ends
    up in git, in rendered manifests and in every diff.""",
    fix="""Keep the whole URL in the secret store (`DATABASE_URL` from `secretKeyRef`), or build it from `$(VAR)`
    references to secret-backed variables.""",
)
def url_credentials(view: View) -> Iterator[Hit]:
    def problem(detector: SecretDetector, key: str, value: str) -> str | None:
        if detector.url_credentials(value):
            return "holds a URL with a password (scheme://user:****@host)"
        return "holds a URL with a credential in its query string (?...=****)" \
            if "://" in value and detector.query_credentials(value) else None

    yield from _scan(view, problem)


@rule(
    "SEC-PRIVATE-KEY", family="secrets", defaults=("error", "error", "error"),
    title="No private keys",
    why="A PEM private key in an env value or ConfigMap is readable by anyone with read access to the repo or "
        "namespace.",
    fix="Store the key in the secret store and mount it from a Secret made by an ExternalSecret; rotate it.",
)
def private_key(view: View) -> Iterator[Hit]:
    yield from _scan(view, lambda detector, key, value: "contains a PEM private key (****)"
                     if detector.has_private_key(value) else None)


@rule(
    "SEC-TOKEN-FORMAT", family="secrets", defaults=("error", "error", "error"),
    title="No values shaped like known tokens",
    why="""AWS access keys, GitHub/GitLab/Slack tokens, Stripe live keys, Google API keys and JWTs have recognisable
    shapes; one in git is a leaked credential whatever its variable is called.""",
    fix="Revoke the token, move the new one into the secret store and read it with `secretKeyRef`.",
)
def token_format(view: View) -> Iterator[Hit]:
    def problem(detector: SecretDetector, key: str, value: str) -> str | None:
        label = detector.token_kind(value)
        return f"contains what looks like {label} (****)" if label else None

    yield from _scan(view, problem)


@rule(
    "SEC-ENTROPY", family="secrets", defaults=("warning", "warning", "error"),
    title="No high-entropy strings in env values or ConfigMaps",
    why="""Random-looking strings are usually keys, passwords or tokens, whatever their name. The limits are
    detect-secrets' defaults: 4.5 bits per character for base64-like strings, 3.0 for hex.""",
    fix="""Move the value into the secret store; if it is not a secret (a public key, a checksum), suppress the rule on
    the resource with the reason.""",
    interpretation="""Candidates are runs of base64/hex characters at least the policy's `entropy.minLength` (20)
    long, after removing `$(VAR)`/`${VAR}` references, `{{ ... }}` templates, `sha256:` digests, UUIDs, `ENC[...]`
    values, PEM certificates and public keys (a PEM private key stays, and is SEC-PRIVATE-KEY too), SSH public keys
    and git commit IDs (40 lowercase hex characters standing alone); hex runs under a name that says they are a
    digest (`GIT_SHA`, `CONFIG_HASH`, `checksum/config`, `BUILD_COMMIT`) and is no secret name are not measured;
    all-digit hex strings get detect-secrets' numeric adjustment.""",
)
def high_entropy(view: View) -> Iterator[Hit]:
    def problem(detector: SecretDetector, key: str, value: str) -> str | None:
        found = detector.high_entropy(value, key)
        return (f"contains a high-entropy {found.kind} string ({found.score:.1f} > {found.limit} bits per character; "
                "****)") if found else None

    yield from _scan(view, problem, full_key=True)


@rule(
    "SEC-SOPS", family="secrets", defaults=("error", "error", "error"),
    title="SOPS files are completely encrypted",
    why="""A value added in plaintext to a SOPS file after encryption stays plaintext in git (SOPS's MAC only fails
    at decryption time, in the cluster); a file without `sops.mac` is not a SOPS encryption at all.""",
    fix="Re-encrypt the file with `sops --encrypt --in-place` (or `sops edit`) so every value is `ENC[...]` and the "
        "MAC is recomputed.",
    interpretation="""Checks rendered documents with a top-level `sops:` and every SOPS file a `secretGenerator`
    reads (YAML, JSON or dotenv). Empty values are left unwrapped by SOPS and accepted.""",
)
def sops(view: View) -> Iterator[Hit]:
    for res in view.resources:
        if "sops" in res.data:
            for path, message in sops_problems(res.data):
                yield Hit(res, path, f"{res.label}: {message}")
    for item in _generator_inputs(view):
        for location, message in item.problems:
            yield Hit(None, (), f"{item.rel}: {message}", location=location)


def _scope(res: Res) -> str:
    template = as_dict(as_dict(res.spec.get("template")).get("metadata"))
    annotations = {**as_dict(template.get("annotations")), **res.annotations}
    if str(annotations.get(f"{_SEALED_SCOPE}cluster-wide", "")).lower() == "true":
        return "cluster-wide"
    if str(annotations.get(f"{_SEALED_SCOPE}namespace-wide", "")).lower() == "true":
        return "namespace-wide"
    return "strict"


@rule(
    "SEC-SEALED-CLUSTER-WIDE", family="secrets", defaults=("-", "warning", "error"),
    title="No cluster-wide SealedSecrets",
    why="""A cluster-wide SealedSecret can be decrypted by anyone who can create a SealedSecret in any namespace of
    the cluster (Sealed Secrets v0.6.0 notes).""",
    fix="Re-seal with the default strict scope (`kubeseal --scope strict`) for the final name and namespace.",
)
def sealed_cluster_wide(view: View) -> Iterator[Hit]:
    for res in view.of_kind("SealedSecret"):
        if _scope(res) == "cluster-wide":
            yield Hit(res, ("metadata", "annotations"), f"{res.label} is sealed cluster-wide")


def _source_doc(view: View, res: Res) -> Any:
    if view.graph is None or "path" not in res.origin:
        return None
    docs = [d for d in view.graph.documents.get(res.origin["path"], [])
            if isinstance(d.data, dict) and d.data.get("kind") == res.kind]
    named = [d for d in docs if str(as_dict(d.data.get("metadata")).get("name", "")) in res.name]
    return next(iter(named or docs), None)


@rule(
    "SEC-SEALED-RENAMED", family="secrets", defaults=("error", "error", "error"),
    title="Kustomize does not rename or move a scoped SealedSecret",
    why="""A strict-scope SealedSecret is bound to its name and namespace, a namespace-wide one to its namespace: a
    `namePrefix`, `nameSuffix` or `namespace` transform makes it undecryptable, and the Secret never appears.""",
    fix="""Seal the value for the final (rendered) name and namespace and keep the SealedSecret out of the transform
    (or seal it namespace-wide when only the name changes).""",
    interpretation="""Compares the rendered name and namespace with the source document (kustomize's origin); a
    namespace the source does not record is not compared.""",
)
def sealed_renamed(view: View) -> Iterator[Hit]:
    for res in view.of_kind("SealedSecret"):
        scope = _scope(res)
        doc = _source_doc(view, res)
        if scope == "cluster-wide" or doc is None:
            continue
        metadata = as_dict(doc.data.get("metadata"))
        if scope == "strict" and metadata.get("name") and str(metadata["name"]) != res.name:
            yield Hit(res, ("metadata", "name"), f"{res.label} was sealed (strict scope) as {metadata['name']!r}; "
                      "kustomize renamed it, so it cannot be decrypted",
                      location=Location(doc.source, *doc.position(("metadata", "name"))))
        if metadata.get("namespace") and str(metadata["namespace"]) != res.namespace:
            yield Hit(res, ("metadata", "namespace"), f"{res.label} was sealed for namespace {metadata['namespace']!r} "
                      f"but renders into {res.namespace!r}",
                      location=Location(doc.source, *doc.position(("metadata", "namespace"))))


@rule(
    "SEC-SEALED-REUSED", family="secrets", scope="cross-env", defaults=("error", "error", "error"),
    title="No SealedSecret ciphertext shared between environments",
    why="""Each cluster's controller has its own key: a ciphertext copied from another environment cannot decrypt,
    and if it does the clusters share a sealing key (and the secret).""",
    fix="Seal the value separately with each environment's certificate (`kubeseal --cert <env cert>`).",
)
def sealed_reused(views: list[View], context: Any) -> Iterator[tuple[View, Hit]]:
    active = [v for v in views if context.policy.enabled(CATALOGUE["SEC-SEALED-REUSED"], v.env.name)]
    seen: dict[str, list[tuple[View, Res, str]]] = defaultdict(list)
    for view in active:
        for res in view.of_kind("SealedSecret"):
            for key, cipher in as_dict(res.spec.get("encryptedData")).items():
                if isinstance(cipher, str) and len(cipher) >= 16:
                    seen[cipher].append((view, res, str(key)))
    for places in seen.values():
        envs = sorted({v.env.name for v, _, _ in places})
        if len(envs) < 2:
            continue
        for view, res, key in places:
            others = ", ".join(e for e in envs if e != view.env.name)
            yield view, Hit(res, ("spec", "encryptedData", key), f"{res.label}: the ciphertext of {key} is also used "
                            f"in {others}")


@rule(
    "SEC-LAST-APPLIED", family="secrets", defaults=("error", "error", "error"),
    title="No last-applied-configuration annotations",
    why="""`kubectl.kubernetes.io/last-applied-configuration` pasted from a live cluster holds the whole object as it
    was applied, Secret data included.""",
    fix="Remove the annotation from the source file.",
)
def last_applied(view: View) -> Iterator[Hit]:
    for res in view.resources:
        if _LAST_APPLIED in res.annotations:
            yield Hit(res, ("metadata", "annotations", _LAST_APPLIED), f"{res.label} carries {_LAST_APPLIED} (value "
                      "not shown)")


def _empty_overrides(view: View, res: Res, c_path: JsonPath, name: str) -> str | None:
    """The Secret an `envFrom` of the container could set `name` from (the empty `env` value overrides it)."""
    for source in as_list(as_dict(res.get(c_path)).get("envFrom")):
        source = as_dict(source)
        prefix = str(source.get("prefix") or "")
        ref = as_dict(source.get("secretRef"))
        if ref and name.startswith(prefix):
            return str(ref.get("name", ""))
    return None


@rule(
    "SEC-EMPTY-SECRET", family="secrets", defaults=("warning", "error", "error"),
    title="No empty value for a secret-named variable",
    why="""`SECRET_KEY_BASE: ""` or `DATABASE_PASSWORD: ""` is a placeholder nobody filled: the app starts with an
    empty key (sessions signed with nothing, a database user without a password) or fails at boot. An `env` entry
    also wins over `envFrom`, so an empty value hides the one the Secret holds.""",
    fix="""Read the variable from the secret store (`valueFrom.secretKeyRef`), or delete the empty entry so the
    `envFrom` Secret's value applies.""",
    interpretation="""The names are the policy's `secretNames`. Checks what each container of every workload ends
    up with (`env`, `envFrom` ConfigMaps of the build, the last definition winning): an `env` entry with `value: ""`
    or no value at all, or an empty ConfigMap value no later `envFrom` Secret may replace.""",
)
def empty_secret(view: View) -> Iterator[Hit]:
    detector = _detector(view)
    for res in view.workloads:
        for c_path, container in containers_of(res):
            secret_sources = any("secretRef" in as_dict(s) for s in as_list(container.get("envFrom")))
            for name, found in view.env_of(res, c_path).items():
                if "*" in name or found.how not in ("value", "configmap") or found.value != "":
                    continue
                if not detector.is_secret_name(name) or (found.index is None and secret_sources):
                    continue
                where = f"ConfigMap {found.ref}" if found.how == "configmap" else "env"
                message = f"{name} of container {container.get('name')!r} is empty (set in {where})"
                overridden = _empty_overrides(view, res, c_path, name) if found.index is not None else None
                if overridden is not None:
                    message += f"; the empty env entry overrides what Secret {overridden!r} gives through envFrom"
                yield Hit(res, c_path + ("env",), message, at=(found.res, found.path))


_TRUSTING_ENV = (
    ("POSTGRES_HOST_AUTH_METHOD", lambda v: v.strip().lower() == "trust",
     "trust: the postgres image lets every client log in as any user without a password"),
    ("MYSQL_ALLOW_EMPTY_PASSWORD", lambda v: v != "",
     "is set: the MySQL image gives root an empty password (any non-empty value, even 'no', turns it on)"),
    ("MARIADB_ALLOW_EMPTY_ROOT_PASSWORD", lambda v: v != "",
     "is set: the MariaDB image gives root an empty password (any non-empty value, even 'no', turns it on)"),
    ("ALLOW_EMPTY_PASSWORD", lambda v: v.strip().lower() in ("yes", "true", "1"),
     "is on: the Bitnami database images then accept connections without a password"),
)
_HBA_METHODS = {"trust", "reject", "md5", "password", "scram-sha-256", "gss", "sspi", "ident", "peer", "pam", "ldap",
                "radius", "cert", "bsd"}
_HBA_LOCAL = ("127.", "::1", "localhost", "samehost")


def _trusting_hba(text: str) -> list[tuple[int, str]]:
    """(line number, address) of each `host*` line of a pg_hba.conf that trusts clients from beyond the pod."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if len(fields) < 5 or not fields[0].startswith("host"):
            continue
        method = next((f for f in fields[4:] if f in _HBA_METHODS), None)
        if method == "trust" and not fields[3].startswith(_HBA_LOCAL):
            found.append((number, fields[3]))
    return found


@rule(
    "SEC-DB-TRUST-AUTH", family="secrets", defaults=("warning", "error", "error"),
    title="No database that lets clients in without a password",
    why="""`POSTGRES_HOST_AUTH_METHOD=trust`, `MYSQL_ALLOW_EMPTY_PASSWORD`, `MARIADB_ALLOW_EMPTY_ROOT_PASSWORD`,
    Bitnami's `ALLOW_EMPTY_PASSWORD=yes` or a `pg_hba.conf` line with `trust` make the database accept anyone who
    can reach its port: every pod of the cluster, unless a NetworkPolicy says otherwise, as any user, the superuser
    included.""",
    fix="""Set a password from a managed Secret (`POSTGRES_PASSWORD`, `MYSQL_ROOT_PASSWORD` via `secretKeyRef`) and
    remove the setting; in `pg_hba.conf` use `scram-sha-256` for `host` lines.""",
    interpretation="""Checks what each container of every workload ends up with (`env`, `envFrom` ConfigMaps of the
    build), and ConfigMap keys named like `pg_hba.conf` (`host*` lines with `trust` for addresses other than the
    loopback).""",
)
def db_trust_auth(view: View) -> Iterator[Hit]:
    for res in view.workloads:
        for c_path, container in containers_of(res):
            env = view.env_of(res, c_path)
            for name, trusting, why in _TRUSTING_ENV:
                found = env.get(name)
                if found is not None and found.value is not None and trusting(found.value):
                    yield Hit(res, c_path + ("env",), f"{name} {why} (container {container.get('name')!r})",
                              at=(found.res, found.path))
    for cm in view.of_kind("ConfigMap"):
        for key, value in as_dict(cm.data.get("data")).items():
            if "pg_hba" in str(key) and isinstance(value, str):
                for number, address in _trusting_hba(value):
                    yield Hit(cm, ("data", key), f"{cm.label} {key} line {number} trusts every client from "
                              f"{address} (no password)")
