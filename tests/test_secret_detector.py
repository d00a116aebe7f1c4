"""secret_detector: secret names, token formats, URL credentials, private keys, entropy, and redaction."""
from __future__ import annotations

import pytest

from phoenix_gitops.rules import load_policy
from phoenix_gitops.secret_detector import (
    DEFAULT_SECRET_NAMES,
    MASK,
    SecretDetector,
    digest_name,
    entropy,
    is_literal,
)

DETECTOR = SecretDetector()
GITHUB = "ghp_R8x2Lm4Qv7Tz1Wc9Yp3Ks6Hd0Fj5Ng2Bb8Ee"
AWS = "AKIAQ3EGRJ7Z5HX2M4PA"
PEM = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpY\n-----END EC PRIVATE KEY-----"


def test_the_defaults_are_the_shipped_policys_secret_names():
    policy, problems = load_policy()
    assert problems == [] and policy is not None
    assert tuple(policy.setting("secretNames")) == DEFAULT_SECRET_NAMES
    assert SecretDetector.from_settings(policy.setting) == SecretDetector()


@pytest.mark.parametrize("name", ["CLOAK_KEY", "DB_PASS", "db_pass", "LIVE_VIEW_SIGNING_SALT",
                                  "SESSION_ENCRYPTION_SALT", "JOKEN_SIGNER", "SECRET_KEY_BASE", "RELEASE_COOKIE",
                                  "SMTP_PASSWORD", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "STRIPE_API_KEY",
                                  "PASSWORD"])
def test_secret_names(name):
    assert DETECTOR.is_secret_name(name)


@pytest.mark.parametrize("name", ["PHX_HOST", "POOL_SIZE", "DATABASE_URL", "PASSWORD_MIN_LENGTH", "TOKEN_TTL",
                                  "CLOAK_KEY_ID", ""])
def test_other_names(name):
    assert not DETECTOR.is_secret_name(name)


def test_from_settings_takes_the_policys_names_and_limits_and_keeps_defaults_for_the_rest():
    settings = {"secretNames": ["odd_*"], "entropy": {"hexLimit": 2.5}}
    detector = SecretDetector.from_settings(settings.get)
    assert detector.is_secret_name("ODD_THING") and not detector.is_secret_name("CLOAK_KEY")
    assert (detector.base64_limit, detector.hex_limit, detector.min_length) == (4.5, 2.5, 20)
    assert SecretDetector.from_settings({}.get) == SecretDetector()
    assert SecretDetector.from_settings({"secretNames": []}.get).names == ()


@pytest.mark.parametrize(("value", "kind"), [
    (GITHUB, "a GitHub token"), (f"token={AWS};", "an AWS access key ID"), ("xoxb-1234567890-abcdef", "a Slack token"),
    ("glpat-abcdefghijklmnopqrstuv", "a GitLab token"), ("eyJhbGciOi.eyJzdWIiOi.sig", "a JSON Web Token"),
    ("ghp_short", None), ("AKIA-not-a-key", None), ("hello", None),
])
def test_token_kind(value, kind):
    assert DETECTOR.token_kind(value) == kind


def test_url_credentials_need_a_literal_password_or_a_bare_https_user():
    found = DETECTOR.url_credentials("a ecto://app:hunter2@db/app b amqp://guest:guest@rabbit:5672")
    assert [m.group("userinfo") for m in found] == ["app:hunter2", "guest:guest"]
    assert DETECTOR.url_credentials("ecto://app:$(DB_PASSWORD)@db/app") == []
    assert DETECTOR.url_credentials("postgres://db:5432/app https://git.example.org/a@b") == []
    assert DETECTOR.url_credentials("https://x-token@git.example.org/a.git") == []
    assert [m.group("userinfo") for m in DETECTOR.url_credentials("https://x-token@git.example.org/a.git",
                                                                   bare_user=True)] == ["x-token"]
    assert DETECTOR.url_credentials("ssh://git@github.com/acme/repo.git", bare_user=True) == []


def test_private_keys():
    assert DETECTOR.has_private_key(f"key: {PEM}")
    assert not DETECTOR.has_private_key("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----")


def test_high_entropy_follows_detect_secrets():
    found = DETECTOR.high_entropy("salt=q8Zt3Kv9Xw2Lp7Rm4Nc6Bd1Hf5Gj0Ys8Ua3Te7Wi")
    assert found is not None and found.kind == "base64" and found.score > found.limit == 4.5
    assert DETECTOR.high_entropy("bfd8db81a10da55e83ad063aa86f1d965fe71374f3f980e1").kind == "hex"
    for plain in ("ghcr.io/acme/api@sha256:b92bf84fd9398018372e09c5a3b5cc552672f4c26e2e6029b28f5a45c7e9b3bc",
                  "123e4567-e89b-12d3-a456-426614174000", "$(SOME_VERY_LONG_VARIABLE_NAME_HERE)",
                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "q8Zt3Kv9Xw2Lp7Rm"):
        assert DETECTOR.high_entropy(plain) is None, plain
    assert SecretDetector(min_length=10, base64_limit=3.5).high_entropy("q8Zt3Kv9Xw2Lp7Rm") is not None
    assert entropy("", "ab") == 0.0 and entropy("abab", "ab") == 1.0


def test_is_literal():
    assert is_literal("hunter2") and is_literal("$(A)x") and is_literal("{{ .user }}:hunter2")
    assert not is_literal("") and not is_literal("$(A)") and not is_literal("${A}:$(B)")
    assert not is_literal("{{ .password }}") and not is_literal("{{.user}}:{{ .password | urlquery }}")


GIT_SHA = "2a06404d80a7443a08ceab4b0b7165939889ecf1"
CERTIFICATE = ("-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUR3q8ZkT1cPx0oW2LmV9aJbN4dYswCgYIKoZIzj0EAwIw\n"
               "kcTkKxmXS2OS8OMJp1RQnB52LWjAvOYOc4Vp0fwScOhkKwfZ3/aZh0hGyaTm59+X\n-----END CERTIFICATE-----")
PRIVATE_KEY = ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oLVjO6hTg5XBoAoGCCqGSM49\n"
               "-----END EC PRIVATE KEY-----")


@pytest.mark.parametrize("value", [
    GIT_SHA, f"release {GIT_SHA} built", f"https://github.com/acme/api/commit/{GIT_SHA}", CERTIFICATE,
    CERTIFICATE.replace("CERTIFICATE", "PUBLIC KEY"), f"{CERTIFICATE}\n{CERTIFICATE}",
    "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
    "{{ .q8Zt3Kv9Xw2Lp7Rm4Nc6Bd1Hf5Gj0Ys8Ua3Te7Wi }}",
])
def test_public_material_is_not_high_entropy(value):
    assert DETECTOR.high_entropy(value) is None


@pytest.mark.parametrize("value", [
    PRIVATE_KEY, f"{CERTIFICATE}\n{PRIVATE_KEY}", GIT_SHA.upper(), GIT_SHA + "9f86d081",
    "bfd8db81a10da55e83ad063aa86f1d965fe71374f3f980e1",
])
def test_keys_and_other_hex_still_are(value):
    assert DETECTOR.high_entropy(value) is not None


def test_a_digest_name_spares_a_hex_value_but_not_a_secret_name_or_base64():
    digest = "322da21a9177e58f723de10ce2e4bc0a6abe7e1f6ebf436244f956772bfcd4b2"
    for name in ("CONFIG_HASH", "checksum/config", "BUILD_COMMIT", "imageDigest"):
        assert digest_name(name) and DETECTOR.high_entropy(digest, name) is None, name
    assert DETECTOR.high_entropy(digest, "SHARED_KEY") is not None  # SHA is a word of it, not a part of one
    assert DETECTOR.high_entropy(digest, "COMMIT_SECRET") is not None  # a secret name wins
    assert DETECTOR.high_entropy("q8Zt3Kv9Xw2Lp7Rm4Nc6Bd1Hf5Gj0Ys8Ua3Te7Wi", "CONFIG_HASH") is not None
    assert not DETECTOR.is_secret_value("GIT_SHA", digest) and DETECTOR.is_secret_value("WEBHOOK_HMAC", digest)


def test_is_secret_value_by_name_or_entropy():
    assert DETECTOR.is_secret_value("CLOAK_KEY", "short")
    assert DETECTOR.is_secret_value("SESSION", "q8Zt3Kv9Xw2Lp7Rm4Nc6Bd1Hf5Gj0Ys8Ua3Te7Wi")
    assert not DETECTOR.is_secret_value("PHX_HOST", "api.example.org")
    assert not DETECTOR.is_secret_value("PHX_HOST", 4000)


def test_redact_hides_every_secret_part_and_keeps_the_rest():
    text = f"repo=https://bot:hunter2@git.example.org/x.git id={AWS} gh={GITHUB} end"
    assert DETECTOR.redact(text) == f"repo=https://{MASK}@git.example.org/x.git id={MASK} gh={MASK} end"
    assert DETECTOR.secrets_in(text) == ["bot:hunter2", AWS, GITHUB]
    assert DETECTOR.redact(f"key:\n{PEM}\nafter") == f"key:\n{MASK}\nafter"
    overlapping = f"https://x:{GITHUB}@github.com/a"
    assert DETECTOR.redact(overlapping, "#") == "https://#@github.com/a"
    assert DETECTOR.redact("nothing to hide") == "nothing to hide"
