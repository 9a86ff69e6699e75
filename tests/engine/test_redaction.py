"""Secrets kept out of what agents read and what huddle records: every class of secret
the issue lists, in the shapes people actually write them (all values here are fake)."""

from __future__ import annotations

import pytest

from engine.redaction import MIN_FRAGMENT, REDACTED, redact, redact_known
from engine.tools import ToolError, run_tool

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PGP_BLOCK = (
    "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGZ3fakeFAKEfakeAQgAyx0k\n=Ab3d\n"
    "-----END PGP PRIVATE KEY BLOCK-----"
)

# (what, text holding it, the secret itself)
SECRETS = [
    ("PGP private key block", f"key:\n{PGP_BLOCK}\n", "lQOYBGZ3fakeFAKEfakeAQgAyx0k"),
    ("OpenSSH private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n-----END OPENSSH PRIVATE KEY-----",
     "b3BlbnNzaC1rZXktdjEA"),
    ("API_TOKEN= line", "API_TOKEN=f8a9c0d1e2b3a495\n", "f8a9c0d1e2b3a495"),
    ("DB_PASSWORD= line", "export DB_PASSWORD=hunter2\n", "hunter2"),
    ("AWS secret key (env line)", f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}\n", AWS_SECRET),
    ("AWS secret key (ini)", f"[default]\naws_secret_access_key = {AWS_SECRET}\n", AWS_SECRET),
    ("AWS secret key (prose)", f"the aws secret key is {AWS_SECRET} for now", AWS_SECRET),
    ("AWS access key id", "id: AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("Stripe live key", 'stripe.api_key = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"', "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("GitHub fine-grained token", "token github_pat_11ABCDEFG0123456789abc_defghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS used",
     "github_pat_11ABCDEFG0123456789abc_defghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS"),
    ("GitHub classic token", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
    ("GitLab token", "GITLAB: glpat-xY12abCD34efGH56ijKL", "glpat-xY12abCD34efGH56ijKL"),
    ("Google API key", "maps key AIzaSyA1234567890abcdefghijklmnopqrstuv here", "AIzaSyA1234567890abcdefghijklmnopqrstuv"),
    ("JWT", f"Authorization: {JWT}", JWT),
    ("bearer token", "curl -H 'Authorization: Bearer abcdefghijklmnop0123456789'", "abcdefghijklmnop0123456789"),
    ("password in a URL", "DATABASE_URL is postgres://admin:s3cr3tP4ss@db.example.com:5432/app", "s3cr3tP4ss"),
    ("password in a redis URL", "redis://:Zq8!x2Lm@cache:6379/0", "Zq8!x2Lm"),
    ("Anthropic key", "key = sk-ant-api03-AbCdEfGhIjKlMnOp", "sk-ant-api03-AbCdEfGhIjKlMnOp"),
    ("Anthropic key, capitalised", "Sk-ant-api03-AbCdEfGhIjKlMnOp is the key.", "ant-api03-AbCdEfGhIjKlMnOp"),
    ("OpenAI-style key, upper case", "KEY: SK-PROJ-ABCDEFGHIJKLMNOPQRSTUV", "PROJ-ABCDEFGHIJKLMNOPQRSTUV"),
    ("Slack token", "xoxb-123456789012-abcdefABCDEF", "xoxb-123456789012-abcdefABCDEF"),
    ("npm token", "//registry.npmjs.org/:_authToken=npm_abcdefghijklmnopqrstuvwxyz0123456789",
     "npm_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("JSON password", '{"user": "ann", "password": "correct horse"}', "correct horse"),
    ("YAML secret", "client_secret: 9f8e7d6c5b4a39281706", "9f8e7d6c5b4a39281706"),
    ("query-string token", "GET /cb?access_token=abcd1234efgh5678&state=x", "abcd1234efgh5678"),
]


@pytest.mark.parametrize(("what", "text", "secret"), SECRETS, ids=[s[0] for s in SECRETS])
def test_every_class_of_secret_is_redacted(what, text, secret):
    redacted = redact(text)
    assert secret not in redacted, what
    assert REDACTED in redacted, what


def test_the_names_stay_readable_and_the_text_around_them_too():
    assert redact("API_TOKEN=abc123\nDEBUG=1\n") == f"API_TOKEN={REDACTED}\nDEBUG=1\n"
    assert redact(f"before\n{PGP_BLOCK}\nafter") == f"before\n{REDACTED}\nafter"
    assert redact("postgres://admin:pw123456@db/app") == f"postgres://admin:{REDACTED}@db/app"


@pytest.mark.parametrize(
    "code",
    [
        "tokens=run.spent.tokens,",
        "max_tokens = 4096",
        'tokenizer = AutoTokenizer.from_pretrained("gpt2")',
        'SECRET_KEY = os.environ.get("SECRET_KEY")',
        "primary_key = True",
        'author = "Jane Doe"',
        "See https://example.com/docs#auth for details.",
        "password_hash: str",
    ],
)
def test_ordinary_code_and_prose_are_left_alone(code):
    assert redact(code) == code


def test_any_long_enough_piece_of_a_known_key_is_redacted():
    key = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
    echoed = "401: invalid x-api-key: AbCdEfGhIj...Yz0123456789 (and a short AbCdEfG)"
    redacted = redact_known(echoed, [key])
    assert redacted == f"401: invalid x-api-key: {REDACTED}...{REDACTED} (and a short AbCdEfG)"
    pieces = {key[i : i + MIN_FRAGMENT] for i in range(len(key) - MIN_FRAGMENT + 1)}
    assert not any(piece in redact(echoed, [key]) for piece in pieces)


def test_the_values_of_secret_named_environment_variables_are_redacted(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "plain-words-token-value")
    assert redact("it says plain-words-token-value.") == f"it says {REDACTED}."



def test_the_shells_working_folders_are_not_taken_for_passwords(monkeypatch):
    monkeypatch.setenv("PWD", "/home/someone/project")
    monkeypatch.setenv("OLDPWD", "/home/someone/elsewhere")
    text = 'File "/home/someone/project/tui/console.py", then /home/someone/elsewhere'
    assert redact(text) == text

# -- files the tools never read -------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        ".env", ".env.local", ".envrc", ".git-credentials", ".netrc", ".pgpass", ".npmrc", ".pypirc",
        "id_ed25519", "id_rsa.pub", "server.pem", "tls.key", "cert.p12", "cert.PFX", "store.jks",
        "putty.ppk", "credentials.json", "client_secret.json", "passwords.kdbx", ".htpasswd",
        ".ssh/config", ".aws/config", ".docker/config.json", ".kube/config",
    ],
)
def test_secret_named_files_and_folders_are_not_read(tmp_path, name):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("nothing to see\n")
    with pytest.raises(ToolError, match="looks like a secret"):
        run_tool("read_file", {"path": name}, tmp_path)


def test_a_link_to_a_secret_file_is_not_read_either(tmp_path):
    (tmp_path / ".git-credentials").write_text("https://ann:pw@github.com\n")
    (tmp_path / "notes.txt").symlink_to(tmp_path / ".git-credentials")
    with pytest.raises(ToolError, match="looks like a secret"):
        run_tool("read_file", {"path": "notes.txt"}, tmp_path)


def test_a_read_file_is_redacted_and_a_file_name_that_is_not_utf8_is_listed_readably(tmp_path):
    (tmp_path / "settings.py").write_text('AWS_KEY = "AKIAIOSFODNN7EXAMPLE"\nurl = "https://u:pw987654@h/"\n')
    text = run_tool("read_file", {"path": "settings.py"}, tmp_path)
    assert "AKIAIOSFODNN7EXAMPLE" not in text and "pw987654" not in text
    (tmp_path / b"caf\xe9.txt".decode("utf-8", "surrogateescape")).write_text("x")
    listing = run_tool("list_files", {"path": "."}, tmp_path)
    assert "caf\ufffd.txt" in listing
    listing.encode("utf-8")  # no lone surrogate left
