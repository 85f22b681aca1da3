"""Which webhook targets are refused: literal addresses and `localhost` only (no network)."""
from __future__ import annotations

import ipaddress

import pytest

from segsearch.net.addresses import Unresolvable, UnsafeUrl, check_url, refusal

PUBLIC = "93.184.215.14"  # a public address: never contacted by these tests


@pytest.mark.parametrize(("host", "reason"), [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("[::1]", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("[fd00::1]", "private"), ("169.254.169.254", "link-local"), ("[fe80::1]", "link-local"),
    ("224.0.0.1", "multicast"), ("[ff02::1]", "multicast"), ("0.0.0.0", "unspecified"),
    ("[::]", "unspecified"), ("240.0.0.1", "reserved"), ("100.64.0.1", "not globally routable"),
    ("198.18.0.1", "private"), ("192.0.0.8", "special-purpose"), ("[fec0::1]", "special-purpose"),
    ("[2001:db8::1]", "private"), ("255.255.255.255", "reserved"),
    # IPv4 inside IPv6: mapped, NAT64, 6to4
    ("[::ffff:127.0.0.1]", "loopback"), ("[::ffff:10.0.0.1]", "private"),
    ("[64:ff9b::a9fe:a9fe]", "link-local"), ("[2002:7f00:1::]", "loopback"),
    ("[2001:0:4136:e378:8000:63bf:80ff:fffe]", "loopback"),  # Teredo, client 127.0.0.1
    # decimal, octal, hex and short IPv4 spellings all mean 127.0.0.1 / 10.0.0.1
    ("2130706433", "loopback"), ("0177.0.0.1", "loopback"), ("0x7f.0.0.1", "loopback"),
    ("0x7f000001", "loopback"), ("127.1", "loopback"), ("012.0.0.1", "private"),
])
def test_non_public_literals_are_refused(host, reason):
    with pytest.raises(UnsafeUrl, match=reason):
        check_url(f"http://{host}:9200/_bulk")


@pytest.mark.parametrize("url", ["http://localhost/x", "https://LOCALHOST./x",
                                 "http://api.localhost:8000/"])
def test_localhost_is_refused_by_name(url):
    with pytest.raises(UnsafeUrl, match="local host"):
        check_url(url)


@pytest.mark.parametrize("url", ["ftp://93.184.215.14/x", "file:///etc/passwd",
                                 "gopher://93.184.215.14/", "http:///x",
                                 "http://user:pw@93.184.215.14/", "http://93.184.215.14:99999/",
                                 "http://93.184.215.14:0/"])
def test_other_schemes_credentials_and_bad_ports_are_refused(url):
    with pytest.raises(UnsafeUrl):
        check_url(url)


def test_a_name_that_does_not_resolve_is_refused():
    # .invalid never resolves (RFC 6761)
    with pytest.raises(Unresolvable, match="does not resolve"):
        check_url("https://hooks.segsearch.invalid/x")


def test_public_literal_is_a_target_with_host_port_and_path():
    target = check_url(f"https://{PUBLIC}/hook?x=1#frag")
    assert (target.scheme, target.host, target.port, target.path) == ("https", PUBLIC, 443, "/hook?x=1")
    assert target.addresses == (ipaddress.ip_address(PUBLIC),)
    assert check_url(f"http://{PUBLIC}").path == "/"
    assert check_url(f"http://{PUBLIC}:8443/").port == 8443
    v6 = check_url("http://[2606:2800:220:1:248:1893:25c8:1946]:8080/")
    assert v6.port == 8080 and v6.addresses == (ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"),)


def test_allow_private_lets_local_targets_through():
    assert check_url("http://127.0.0.1:5000/x", allow_private=True).addresses == (
        ipaddress.ip_address("127.0.0.1"),)
    assert ipaddress.ip_address("127.0.0.1") in check_url("http://localhost/x",
                                                          allow_private=True).addresses
    with pytest.raises(UnsafeUrl):  # the scheme rule stays
        check_url("ftp://127.0.0.1/x", allow_private=True)


def test_refusal_of_public_addresses_is_none():
    for text in (PUBLIC, "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:8.8.8.8"):
        assert refusal(ipaddress.ip_address(text)) is None
