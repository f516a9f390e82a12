"""A tiny JSON-over-HTTPS client for the test harness itself (node simulator, fixtures, fault checks).

Deliberately independent of the plugin's own client, so a bug there cannot hide itself in the tests.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPResponse
from typing import Any, Optional


class ApiFailure(Exception):
    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status
        self.body = body


class Api:
    def __init__(self, server: str, token: str, ca_file: str):
        self.server = server.rstrip("/")
        self.token = token
        self._ssl = ssl.create_default_context(cafile=ca_file)

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                query: Optional[dict] = None, timeout: float = 30, parse: bool = True) -> Any:
        with self._open(method, path, body, content_type, query, timeout) as resp:
            raw = resp.read()
        if not parse:
            return raw.decode("utf-8", "replace")
        return json.loads(raw) if raw else None

    def watch(self, path: str, resource_version: str, timeout: float = 60) -> Watch:
        """A watch request on a collection from `resource_version`, open (the server has answered) on return."""
        query = {"watch": "1", "resourceVersion": resource_version, "timeoutSeconds": str(int(timeout))}
        return Watch(self._open("GET", path, None, "application/json", query, timeout))

    def _open(self, method: str, path: str, body: Any, content_type: str, query: Optional[dict],
              timeout: float) -> HTTPResponse:
        url = self.server + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            return urllib.request.urlopen(req, context=self._ssl, timeout=timeout)
        except urllib.error.HTTPError as exc:
            raise ApiFailure(exc.code, exc.read().decode("utf-8", "replace")) from None

    def get(self, path: str, **query: str) -> Any:
        return self.request("GET", path, query=query or None)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def patch(self, path: str, body: Any, kind: str = "merge") -> Any:
        return self.request("PATCH", path, body, content_type=f"application/{kind}-patch+json")

    def delete(self, path: str, body: Any = None) -> Any:
        return self.request("DELETE", path, body)


class Watch:
    """An open watch: the server sends one JSON event ({"type": "ADDED", "object": {...}}) a line."""

    def __init__(self, response: HTTPResponse):
        self._response = response

    def next_event(self) -> dict:
        """The next event; fails when the server ends the watch or sends nothing within the watch's timeout."""
        try:
            line = self._response.readline()
        except OSError as exc:  # a read timeout or a reset connection
            raise AssertionError(f"no watch event: {exc}") from None
        if not line:
            raise AssertionError("the API server ended the watch")
        return json.loads(line)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc) -> None:
        self._response.close()
