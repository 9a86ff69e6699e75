"""Secrets taken out of text before it is recorded, shown or sent to a model.

Three kinds of secret are found:

- known key formats and private key blocks (`RULES`, below);
- values assigned to secret-sounding names (`API_TOKEN=...`, `"password": "..."`);
- the keys huddle itself was given (a provider's API key): any piece of one at
  least `MIN_FRAGMENT` characters long, so an error that echoes half a key
  ("invalid x-api-key: sk-ant-api03-Xy…Qz") does not store that half either.

The patterns come from maintained secret scanners, cited per rule: Yelp's
detect-secrets 1.5.0 plugins (AWS, GitHub, GitLab, Stripe, Slack, JWT, PyPI,
private key headers, basic-auth URLs, keyword assignments) and gitleaks' rules
for what detect-secrets lacks (GitHub fine-grained tokens, Google API keys, npm
tokens). detect-secrets is not used as a library: it scans one line at a time for
files, so its private key rule finds the header but not the block, it needs
quotes around a keyword's value (`DB_PASSWORD=x` in a `.env` file passes), it
has no `github_pat_`, `AIza` or `API_TOKEN` rule, and importing it loads
`requests` (about 0.2 s) for verification huddle never does. Where a rule here
is looser than its source (shorter minimum lengths), it is on purpose: a false
alarm costs a model a word, a miss costs a key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import lru_cache

REDACTED = "[redacted]"
MIN_FRAGMENT = 8
"""The shortest piece of a known key that is redacted wherever it appears."""

_SECRET_NAME = (
    r"api_?key|secret|token|passw(?:or)?d|passphrase|pwd|credentials?|private_?key|access_?key"
    r"|auth_?key|client_?key|service_?key|account_?key|signing_?key|encryption_?key|db_?key|db_?pass"
)
"""detect-secrets' KeywordDetector denylist, with token and credential added."""

SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|PWD|CREDENTIAL|AUTH", re.IGNORECASE)
"""Names of environment variables (and `NAME=value` lines) that hold secrets."""

# (what, pattern, where it comes from). A pattern with a `secret` group redacts that
# group only (the name in `API_TOKEN=...` stays readable); without one, all of it.
RULES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (what, re.compile(pattern, flags), source)
    for what, pattern, flags, source in (
        (
            "private key block",
            r"-{4,5} ?BEGIN (?P<kind>(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?) ?-{4,5}.*?(?:-{4,5} ?END (?P=kind) ?-{4,5}|\Z)",
            re.DOTALL,
            "detect-secrets PrivateKeyDetector (its headers; here the whole block, PGP included)",
        ),
        ("PuTTY private key", r"PuTTY-User-Key-File-\d+:.*?(?:Private-MAC: *[0-9a-fA-F]+|\Z)", re.DOTALL,
         "detect-secrets PrivateKeyDetector"),
        # Either case: a model that echoes a key at the start of a sentence writes "Sk-ant-…".
        ("Anthropic key", r"sk-ant-[A-Za-z0-9_-]{8,}", re.IGNORECASE, "Anthropic key format"),
        ("OpenAI-style key", r"\bsk-[A-Za-z0-9_-]{20,}", re.IGNORECASE, "detect-secrets OpenAIDetector, loosened"),
        ("Stripe key", r"\b[rs]k_(?:live|test|prod)_[A-Za-z0-9]{10,}", 0, "gitleaks stripe-access-token"),
        ("AWS access key id", r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b", 0, "detect-secrets AWSKeyDetector"),
        (
            "AWS secret access key",
            r"aws.{0,20}?(?:key|secret|token|pass).{0,20}?(?<![A-Za-z0-9/+])(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
            re.IGNORECASE,
            "detect-secrets AWSKeyDetector (quotes made optional)",
        ),
        ("GitHub token", r"\bgh[pousr]_[A-Za-z0-9_]{20,}", 0, "detect-secrets GitHubTokenDetector"),
        ("GitHub fine-grained token", r"\bgithub_pat_[A-Za-z0-9_]{22,}", 0, "gitleaks github-fine-grained-pat"),
        (
            "GitLab token",
            r"\b(?:glpat|gldt|glft|glsoat|glrt|glcbt|glimt|glptt|glagent|gloas)-[A-Za-z0-9_-]{20,}|\bGR1348941[A-Za-z0-9_-]{20,}",
            0,
            "detect-secrets GitLabTokenDetector",
        ),
        ("Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", 0, "detect-secrets SlackDetector"),
        ("Google API key", r"\bAIza[0-9A-Za-z_-]{35}", 0, "gitleaks gcp-api-key"),
        ("npm token", r"\bnpm_[A-Za-z0-9]{36}", 0, "gitleaks npm-access-token"),
        ("PyPI token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}", 0, "detect-secrets PypiTokenDetector"),
        (
            "JSON web token",
            r"\beyJ[A-Za-z0-9_=-]{8,}\.[A-Za-z0-9_=-]{8,}\.[A-Za-z0-9_.+/=-]*",
            0,
            "detect-secrets JwtTokenDetector",
        ),
        (
            "password in a URL",
            r"\b[a-z][a-z0-9+.-]*://[^\s:/?#@]*:(?P<secret>[^\s/?#@]+)@",
            re.IGNORECASE,
            "detect-secrets BasicAuthDetector",
        ),
        ("bearer token", r"\bbearer\s+(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)", re.IGNORECASE, "HTTP Authorization header"),
        (
            "secret-named variable (NAME=value line)",
            rf"^[ \t]*(?:export[ \t]+)?[A-Z0-9_]*(?:{SECRET_ENV.pattern})[A-Z0-9_]*=(?P<secret>\S(?:.*\S)?)",
            re.MULTILINE,
            ".env and shell files, upper-case names (detect-secrets KeywordDetector needs quotes)",
        ),
        (
            "secret-named key",
            rf"(?:{_SECRET_NAME})[A-Za-z0-9_.-]*[\"']?[ \t]*(?::=|=>|[:=])[ \t]*"
            r"(?:(?P<quote>[\"'`])(?P<secret>[^\"'`\n]{3,}?)(?P=quote)"
            # a bare value, unless it reads as code (`tokens=run.spent.tokens`)
            r"|(?![A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:[\s,;&#]|$))(?P<bare>[^\s\"'`,;&()\[\]{}<>#]{8,})(?=[\s,;&#]|$))",
            re.IGNORECASE | re.MULTILINE,
            "detect-secrets KeywordDetector (config, YAML, JSON and code forms)",
        ),
    )
)


def _replace(match: re.Match[str]) -> str:
    """The match with its secret part (its `secret` or `bare` group, else all of it) redacted."""
    groups = match.re.groupindex
    for name in ("secret", "bare"):
        if name in groups and match.group(name) is not None:
            start, end = match.span(name)
            whole = match.group()
            offset = match.start()
            return whole[: start - offset] + REDACTED + whole[end - offset :]
    return REDACTED


@lru_cache(maxsize=16)
def _pieces(secret: str) -> tuple[re.Pattern[str], dict[str, list[int]]]:
    """A pattern finding any MIN_FRAGMENT-long piece of `secret`, and where each piece is in it."""
    grams: dict[str, list[int]] = {}
    for j in range(len(secret) - MIN_FRAGMENT + 1):
        grams.setdefault(secret[j : j + MIN_FRAGMENT], []).append(j)
    return re.compile("|".join(map(re.escape, grams))), grams


def _fragments(text: str, secret: str) -> list[tuple[int, int]]:
    """Where pieces of `secret` at least MIN_FRAGMENT long appear in `text`: (start, end) spans."""
    if len(secret) < MIN_FRAGMENT:
        return [(m.start(), m.end()) for m in re.finditer(re.escape(secret), text)] if secret else []
    finder, grams = _pieces(secret)
    spans: list[tuple[int, int]] = []
    found = finder.search(text)
    while found is not None:
        i = found.start()
        longest = 0
        for j in grams[found.group()]:
            n = MIN_FRAGMENT
            while i + n < len(text) and j + n < len(secret) and text[i + n] == secret[j + n]:
                n += 1
            longest = max(longest, n)
        spans.append((i, i + longest))
        found = finder.search(text, i + longest)
    return spans


def redact_known(text: str, secrets: Iterable[str]) -> str:
    """`text` without any piece (MIN_FRAGMENT characters or more) of the given secrets."""
    spans = sorted(span for secret in secrets for span in _fragments(text, secret))
    if not spans:
        return text
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts, at = [], 0
    for start, end in merged:
        parts += [text[at:start], REDACTED]
        at = end
    parts.append(text[at:])
    return "".join(parts)


NOT_SECRET_ENV = frozenset({"PWD", "OLDPWD"})
"""Names `SECRET_ENV` matches that hold no secret: the shell's working folders."""


def environment_secrets() -> list[str]:
    """Values of this process's secret-named environment variables (8 characters or more)."""
    return [
        value for name, value in os.environ.items()
        if len(value) >= MIN_FRAGMENT and SECRET_ENV.search(name) and name not in NOT_SECRET_ENV
    ]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without anything that looks like a secret: known key formats, private key
    blocks, values of secret-named keys, the values of this process's secret-named
    environment variables, and any piece of `secrets` (the keys huddle was given)."""
    text = redact_known(text, secrets)
    for _, pattern, _ in RULES:
        text = pattern.sub(_replace, text)
    for value in environment_secrets():
        if value in text:
            text = text.replace(value, REDACTED)
    return text
