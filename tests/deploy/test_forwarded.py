"""Whose ``X-Forwarded-For`` is believed, and what it says (broadcaster/core/addresses.py)."""

from __future__ import annotations

import subprocess
import tempfile

import pytest

from broadcaster.config import Settings
from broadcaster.core.addresses import AddressList, TrustedProxies
from tests.support.server import incidents_command, scaled


def test_by_default_no_proxy_is_trusted_and_metrics_are_loopback_only() -> None:
    settings = Settings()
    assert settings.forwarded_allow_ips == ""
    assert not TrustedProxies(settings.forwarded_allow_ips)
    readers = AddressList(settings.metrics_allow)
    assert "127.0.0.1" in readers and "::1" in readers and "::ffff:127.0.0.1" in readers
    assert "10.0.0.1" not in readers and "" not in readers and "unknown" not in readers


def test_the_client_is_the_right_most_address_not_a_trusted_proxy() -> None:
    proxies = TrustedProxies("127.0.0.1, 10.0.0.0/8")
    assert proxies.client("127.0.0.1", ["203.0.113.7"]) == "203.0.113.7"
    # What the citizen wrote is left of what nginx appended: ignored.
    assert proxies.client("127.0.0.1", ["198.51.100.1, 203.0.113.7"]) == "203.0.113.7"
    assert proxies.client("127.0.0.1", ["198.51.100.1", "203.0.113.7, 10.1.2.3"]) == "203.0.113.7"
    assert proxies.client("127.0.0.1", ["10.1.2.3"]) == "10.1.2.3"  # only proxies: the first
    assert proxies.client("127.0.0.1", []) == "127.0.0.1"
    assert proxies.client("127.0.0.1", ["not-an-address"]) == "127.0.0.1"
    assert proxies.client("127.0.0.1", ["[2001:db8::1]"]) == "2001:db8::1"


def test_from_any_other_peer_the_header_is_ignored() -> None:
    assert TrustedProxies("").client("127.0.0.1", ["203.0.113.7"]) == "127.0.0.1"
    assert TrustedProxies("10.0.0.1").client("192.0.2.4", ["203.0.113.7"]) == "192.0.2.4"
    assert TrustedProxies("*").client("192.0.2.4", ["203.0.113.7"]) == "203.0.113.7"


@pytest.mark.parametrize("value", ["localhost", "10.0.0.0/33", "127.0.0.1,nginx"])
def test_a_setting_that_is_not_addresses_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="not an IP address or network"):
        Settings(forwarded_allow_ips=value)
    with pytest.raises(ValueError, match="not an IP address or network"):
        Settings(metrics_allow=value)


def test_serve_says_what_is_wrong_with_forwarded_allow_ips() -> None:
    done = subprocess.run(
        [*incidents_command(), "serve", "--forwarded-allow-ips", "nginx", "--port", "1"],
        capture_output=True, text=True, timeout=scaled(30), cwd=tempfile.gettempdir(),
    )  # fmt: skip
    assert done.returncode != 0
    assert "not an IP address or network" in done.stderr and "Traceback" not in done.stderr
