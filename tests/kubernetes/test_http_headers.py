"""A probe's Host and headers reach curl, and the emulator reads them back (s5: HTTP rules on
headers and host)."""

from __future__ import annotations

from pytest_clustermesh.backend import HttpRequest
from pytest_clustermesh.kubernetes.commands import (
    CurlRequest,
    curl_argv,
    http_headers,
    parse_curl,
)


def test_host_and_headers_go_to_curl_and_back() -> None:
    http = HttpRequest("POST", "/a", "api.example.com", (("X-Token", "a b"),))
    headers = http_headers(http)
    assert headers == (("Host", "api.example.com"), ("X-Token", "a b"))
    request = CurlRequest("http://10.0.0.1:80/a", "POST", 1.0, 2.0, headers)
    argv = curl_argv(request)
    assert argv[argv.index("--header") + 1] == "Host: api.example.com"
    assert parse_curl(argv) == request


def test_a_probe_without_http_sends_no_header() -> None:
    assert http_headers(None) == ()
    assert "--header" not in curl_argv(CurlRequest("http://10.0.0.1:80/"))
