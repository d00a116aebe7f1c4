"""What counts as a secret: one definition for the SEC-* rules, `diff`'s masking and any output that must hide one.

A value is a secret when
- its name (an env variable, a ConfigMap key) matches one of the policy's `secretNames` (glob patterns, compared
  case-insensitively): `SECRET_KEY_BASE`, `CLOAK_KEY`, `*_PASS`, `*SIGNING_SALT`, `JOKEN_*`, ...;
- it contains a token of a known format (AWS access key ID, GitHub, GitLab and Slack tokens, Stripe live keys,
  Google API keys, JSON Web Tokens), a PEM private key, a URL with a literal password (`scheme://user:pw@host`)
  or a credential in a query string (`?private_token=`, `access_token`, `token`, `password`, `sig`,
  `X-Amz-Signature`, ... as `CREDENTIAL_PARAMETERS` lists);
- it contains a long run of base64 or hex characters whose Shannon entropy is over the limit (detect-secrets'
  measure and defaults: 4.5 bits per character for base64, 3.0 for hex, runs of at least 20 characters). Public
  material that looks random is not measured: PEM certificates and public keys (a PEM private key is), SSH public
  keys, git commit IDs (40 lowercase hex characters standing alone), and hex digests under a name that says what
  they are (`GIT_SHA`, `checksum/config`, `CONFIG_HASH`, ...).

Only the standard library: anything may import this module.

Usage:
    detector = SecretDetector.from_settings(policy.setting)   # the policy's secretNames and entropy limits
    detector = SecretDetector()                               # the shipped policy's names and detect-secrets' limits
    detector.is_secret_name("DB_PASS")                        # True
    detector.token_kind("AKIA" + "A" * 16)                    # 'an AWS access key ID'
    detector.high_entropy("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b")   # None: a git commit ID
    detector.redact("postgres://app:hunter2@db/app")          # 'postgres://<masked>@db/app'
    detector.redact("https://git.example.org/x?private_token=abc")  # 'https://git.example.org/x?private_token=<masked>'
"""
from __future__ import annotations

import fnmatch
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SecretDetector", "Entropy", "DEFAULT_SECRET_NAMES", "TOKEN_FORMATS", "CREDENTIAL_PARAMETERS", "BASE64_CHARS",
    "HEX_CHARS", "MASK", "DIGEST_WORDS", "entropy", "is_literal", "merge_spans", "digest_name",
]

DEFAULT_SECRET_NAMES = (
    "SECRET_KEY_BASE", "RELEASE_COOKIE", "ERLANG_COOKIE", "*SIGNING_SALT", "*ENCRYPTION_SALT", "GUARDIAN_SECRET_KEY",
    "CLOAK_KEY", "JOKEN_*", "*_PASSWORD", "*_PASSWD", "*_PASS", "PASSWORD", "*_TOKEN", "*_SECRET", "*_SECRET_KEY",
    "*_SECRET_ACCESS_KEY", "*_API_KEY", "*_PRIVATE_KEY", "*_ACCESS_KEY",
)
"""The names treated as secret when no policy says otherwise (the shipped policy's `secretNames`)."""
BASE64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_="
HEX_CHARS = "0123456789abcdefABCDEF"
MASK = "<masked>"
"""What `redact` writes in place of a secret by default."""

TOKEN_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key ID", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{22,}\b")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}")),
    ("a Stripe live key", re.compile(r"\b[rs]k_live_[A-Za-z0-9]{16,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("a JSON Web Token", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")),
)
"""(what it is, pattern) of every token format recognised by its shape."""

CREDENTIAL_PARAMETERS = (
    "private_token", "access_token", "refresh_token", "id_token", "auth_token", "token", "password", "passwd", "pwd",
    "secret", "client_secret", "api_key", "apikey", "key", "sig", "signature", "X-Amz-Signature", "X-Amz-Credential",
    "X-Amz-Security-Token", "X-Goog-Signature", "X-Goog-Credential",
)
"""Query parameters whose value is a credential (compared case-insensitively): `https://host/x?private_token=...`."""

_REFERENCE = re.compile(r"\$\([A-Za-z_][A-Za-z0-9_]*\)|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\{\{.*?\}\}", re.S)
"""`$(VAR)` (Kubernetes dependent variables), `${VAR}` references and `{{ ... }}` templates (an ExternalSecret's
`{{ .password }}`): not literal values."""
_URL_USERINFO = re.compile(
    r"\b(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<userinfo>(?P<user>[^\s/@:]*)(?::(?P<password>[^\s/@]*))?)@"
)
_QUERY_CREDENTIAL = re.compile(
    rf"[?&;](?:{'|'.join(re.escape(p) for p in CREDENTIAL_PARAMETERS)})=(?P<value>[^&#;\s\"'<>`]+)", re.IGNORECASE
)
_PRIVATE_KEY = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END[A-Z0-9 ]*PRIVATE KEY-----|.*)", re.S)
_DIGEST = re.compile(r"sha(?:256|384|512):[0-9a-fA-F]{32,}")
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_ENC = re.compile(r"ENC\[[^\]]*\]")
_CANDIDATE = re.compile(r"[A-Za-z0-9+/=_-]+")
_PEM_BLOCK = re.compile(r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----.*?-----END (?P=label)-----", re.S)
_SSH_PUBLIC_KEY = re.compile(
    r"\b(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp\d+|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)"
    r"\s+AAAA[0-9A-Za-z+/]+=*"
)
_GIT_ID = re.compile(r"(?<![0-9A-Za-z+/=_-])[0-9a-f]{40}(?![0-9A-Za-z+/=_-])")
"""A git commit (or tree, blob) ID: 40 lowercase hex characters standing alone."""
DIGEST_WORDS = frozenset({"HASH", "CHECKSUM", "DIGEST", "SHA", "SHA1", "SHA256", "SHA512", "MD5", "COMMIT",
                          "REVISION", "REV", "ETAG", "FINGERPRINT"})
"""Words of a name that say its hex value is a digest (`GIT_SHA`, `checksum/config`, `CONFIG_HASH`), not a key."""
_NAME_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def entropy(text: str, charset: str) -> float:
    """Shannon entropy of `text` over `charset`, in bits per character (detect-secrets' measure)."""
    if not text:
        return 0.0
    total = 0.0
    for char in set(text):
        if char in charset:
            share = text.count(char) / len(text)
            total -= share * math.log2(share)
    return total


def is_literal(value: str) -> bool:
    """False for empty values and values that are only `$(VAR)`/`${VAR}` references and punctuation."""
    return bool(re.search(r"[A-Za-z0-9]", _REFERENCE.sub("", value)))


@dataclass(frozen=True)
class Entropy:
    """A high-entropy run found in a value (the run itself is never kept)."""

    kind: str
    """`base64` or `hex`."""
    score: float
    """Bits per character."""
    limit: float


@dataclass(frozen=True)
class SecretDetector:
    """The secret names and entropy limits in force (a policy's, or the defaults) and the checks that use them."""

    names: tuple[str, ...] = DEFAULT_SECRET_NAMES
    """Glob patterns of secret names, compared case-insensitively."""
    base64_limit: float = 4.5
    hex_limit: float = 3.0
    min_length: int = 20
    """Shortest base64/hex run that is measured."""

    @classmethod
    def from_settings(cls, setting: Callable[[str], Any]) -> SecretDetector:
        """The detector of a policy: `setting(key)` gives its `secretNames` and `entropy` (either may be missing,
        then the defaults hold), e.g. `SecretDetector.from_settings(policy.setting)`."""
        names, limits = setting("secretNames"), setting("entropy")
        limits = limits if isinstance(limits, dict) else {}
        return cls(
            names=tuple(str(n) for n in names) if isinstance(names, list) else DEFAULT_SECRET_NAMES,
            base64_limit=float(limits.get("base64Limit", cls.base64_limit)),
            hex_limit=float(limits.get("hexLimit", cls.hex_limit)),
            min_length=int(limits.get("minLength", cls.min_length)),
        )

    def is_secret_name(self, name: str) -> bool:
        """Whether a variable or key named `name` holds a secret by its name alone.

        >>> [SecretDetector().is_secret_name(n) for n in ("CLOAK_KEY", "db_pass", "LIVE_VIEW_SIGNING_SALT", "PHX_HOST")]
        [True, True, True, False]
        """
        return self._names_pattern.match(name.upper()) is not None

    @functools.cached_property
    def _names_pattern(self) -> re.Pattern[str]:
        """The glob patterns of `names` as one regular expression (of upper-case names)."""
        return re.compile("|".join(fnmatch.translate(pattern.upper()) for pattern in self.names) or "(?!)")

    @staticmethod
    def token_kind(value: str) -> str | None:
        """What known token format `value` contains (`a GitHub token`, ...), or None."""
        return next((label for label, pattern in TOKEN_FORMATS if pattern.search(value)), None)

    @staticmethod
    def has_private_key(value: str) -> bool:
        """Whether `value` contains a PEM private key."""
        return _PRIVATE_KEY.search(value) is not None

    @staticmethod
    def url_credentials(value: str, bare_user: bool = False) -> list[re.Match[str]]:
        """The URLs in `value` that carry credentials: a literal password (`user:password@`, a `$(VAR)` password
        is none); with `bare_user`, also a user alone in an http(s) URL (`https://<token>@host`, how Git hosts
        take a token). Each match's `userinfo` group spans what to hide."""
        found = []
        for match in _URL_USERINFO.finditer(value):
            password, user = match.group("password"), match.group("user")
            if (password and is_literal(password)) or (
                bare_user and match.group("scheme").lower() in ("http", "https") and (user or password is not None)
            ):
                found.append(match)
        return found

    @staticmethod
    def query_credentials(value: str) -> list[re.Match[str]]:
        """The credentials in query strings of `value` (`?private_token=...`, `&X-Amz-Signature=...`, as
        `CREDENTIAL_PARAMETERS` lists; a `$(VAR)` value is none). Each match's `value` group spans what to hide."""
        return [m for m in _QUERY_CREDENTIAL.finditer(value) if is_literal(m.group("value"))]

    def high_entropy(self, value: str, name: str = "") -> Entropy | None:
        """The first run of base64/hex characters in `value` over the entropy limit, or None.

        Runs shorter than `min_length` are not measured, nor `$(VAR)` references and `{{ ... }}` templates,
        `sha256:` digests, UUIDs, SOPS `ENC[...]` values, PEM certificates and public keys (not private keys), SSH
        public keys and git commit IDs; nor hex runs when `name` (the variable, key or annotation holding the value)
        says it is a digest (`digest_name`) and is no secret name. All-digit runs get detect-secrets' numeric
        adjustment.

        >>> SecretDetector().high_entropy("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b9f86d081", "CONFIG_HASH") is None
        True
        """
        cleaned = _ENC.sub(" ", _UUID.sub(" ", _DIGEST.sub(" ", _REFERENCE.sub(" ", value))))
        if "-----BEGIN" in cleaned:
            cleaned = _PEM_BLOCK.sub(lambda m: m.group(0) if "PRIVATE" in m.group("label") else " ", cleaned)
        cleaned = _GIT_ID.sub(" ", _SSH_PUBLIC_KEY.sub(" ", cleaned))
        digest = bool(name) and digest_name(name) and not self.is_secret_name(name)
        for candidate in _CANDIDATE.findall(cleaned):
            if len(candidate) < self.min_length:
                continue
            if all(c in HEX_CHARS for c in candidate):
                if digest:
                    continue
                score = entropy(candidate, HEX_CHARS)
                if candidate.isdigit():
                    score -= 1.2 / math.log2(len(candidate))
                found = Entropy("hex", score, self.hex_limit)
            else:
                found = Entropy("base64", entropy(candidate, BASE64_CHARS), self.base64_limit)
            if found.score > found.limit:
                return found
        return None

    def is_secret_value(self, name: str, value: Any) -> bool:
        """Whether the value of variable or key `name` is a secret as a whole: by its name, or by its entropy."""
        return self.is_secret_name(name) or (isinstance(value, str) and self.high_entropy(value, name) is not None)

    def secrets_in(self, value: str) -> list[str]:
        """The parts of `value` that are secrets by their shape (tokens, private keys, URL credentials), in order."""
        return [value[start:end] for start, end in self.secret_spans(value)]

    def redact(self, value: str, mask: str = MASK) -> str:
        """`value` with every part that is a secret by its shape replaced by `mask`.

        >>> SecretDetector().redact("url=https://bot:hunter2@git.example.org/x key=AKIAABCDEFGHIJKLMNOP")
        'url=https://<masked>@git.example.org/x key=<masked>'
        """
        out, at = [], 0
        for start, end in self.secret_spans(value):
            out += [value[at:start], mask]
            at = end
        return "".join(out) + value[at:]

    def secret_spans(self, value: str) -> list[tuple[int, int]]:
        """Sorted, non-overlapping (start, end) of the parts of `value` that are secrets by their shape: tokens,
        private keys, URL credentials (a bare user of an http(s) URL included) and query-string credentials."""
        if not value:
            return []
        spans = [m.span() for _, pattern in TOKEN_FORMATS for m in pattern.finditer(value)]
        if "PRIVATE KEY" in value:
            spans += [m.span() for m in _PRIVATE_KEY.finditer(value)]
        if "@" in value:
            spans += [m.span("userinfo") for m in self.url_credentials(value, bare_user=True)]
        if "=" in value:
            spans += [m.span("value") for m in self.query_credentials(value)]
        return merge_spans(spans)


def digest_name(name: str) -> bool:
    """Whether `name` says its value is a digest: one of its words (split at `_`, `-`, `.`, `/` and camelCase) is
    in `DIGEST_WORDS`.

    >>> [digest_name(n) for n in ("GIT_SHA", "checksum/config", "buildCommit", "SHARED_KEY", "API_KEY")]
    [True, True, True, False, False]
    """
    return any(word.upper() in DIGEST_WORDS for word in _NAME_WORD.findall(name))


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`spans` sorted, with overlapping and touching ones joined: `[(4, 9), (0, 2), (8, 12)]` -> `[(0, 2), (4, 12)]`."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
