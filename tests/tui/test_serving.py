"""`huddle serve`'s pieces that need no server: where it warns, and when the app has a screen."""

from __future__ import annotations

import pytest

from tui import serve_cli
from tui.web_server import exposure_warning, is_loopback, new_token, url_host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost", "LOCALHOST"])
def test_loopback_is_served_without_a_warning(host):
    assert is_loopback(host)
    assert exposure_warning(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "build-3.internal", ""])
def test_any_other_host_is_one_warning_line(host):
    warning = exposure_warning(host)
    assert warning is not None and "\n" not in warning
    assert warning.startswith("huddle serve: warning: listening on") and "not encrypted" in warning


def test_tokens_are_random_and_fit_in_a_path():
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(token) >= 24 and token.replace("-", "").replace("_", "").isalnum() for token in tokens)


def test_an_ipv6_host_is_bracketed_in_an_address():
    assert (url_host("::1"), url_host("127.0.0.1")) == ("[::1]", "127.0.0.1")


def test_a_browser_tab_is_a_screen_though_its_output_is_a_pipe(monkeypatch, capsys):
    monkeypatch.delenv("TEXTUAL_DRIVER", raising=False)
    assert not serve_cli.in_a_browser()
    assert not serve_cli.has_a_screen()  # pytest captures output: no terminal here
    monkeypatch.setenv("TEXTUAL_DRIVER", serve_cli.WEB_DRIVER)
    assert serve_cli.in_a_browser() and serve_cli.has_a_screen()
