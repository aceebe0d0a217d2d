"""A small client of the registry HTTP API v2 (the CNCF distribution spec): what the build
needs that the Docker engine does not offer — asking for a tag without pulling, reading a
manifest digest, and tagging an image already in the registry without moving its layers."""

from __future__ import annotations

import os
import re
import time

import requests

from mlops.core.errors import BuildError

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_RETRIES = 4


def split_repository(repository: str) -> tuple[str, str]:
    """'localhost:5000/mlops/hello' -> ('localhost:5000', 'mlops/hello')."""
    host, _, path = repository.partition("/")
    if not path:
        raise BuildError(f"image repository {repository!r} has no registry host")
    return host, path


class RegistryClient:
    """One registry host. Plain HTTP for loopback hosts (as Docker allows), HTTPS otherwise;
    bearer-token auth (GCR, Artifact Registry) with REGISTRY_USERNAME/REGISTRY_PASSWORD."""

    def __init__(self, host: str, timeout: float = 30.0):
        self.host = host
        local = re.match(r"^(localhost|127\.[0-9.]+)(:\d+)?$", host)
        self.base_url = f"{'http' if local else 'https'}://{host}/v2"
        self.timeout = timeout
        self.session = requests.Session()
        self._auth = (os.environ.get("REGISTRY_USERNAME"), os.environ.get("REGISTRY_PASSWORD"))

    def _authenticate(self, challenge: str) -> None:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        if not challenge.lower().startswith("bearer") or "realm" not in params:
            raise BuildError(f"registry {self.host}: unsupported auth challenge {challenge!r}")
        realm = params.pop("realm")
        auth = self._auth if all(self._auth) else None
        r = self.session.get(realm, params=params, auth=auth, timeout=self.timeout)
        if r.status_code != 200:
            raise BuildError(f"registry {self.host}: token request failed ({r.status_code})")
        body = r.json()
        token = body.get("token") or body.get("access_token")
        self.session.headers["Authorization"] = f"Bearer {token}"

    def _request(self, method: str, path: str, **kwargs) -> requests.Response:
        url = f"{self.base_url}/{path}"
        for attempt in range(_RETRIES):
            try:
                r = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except requests.ConnectionError as e:
                if attempt == _RETRIES - 1:
                    raise BuildError(f"registry {self.host} cannot be reached: {e}") from e
            else:
                if r.status_code == 401 and "WWW-Authenticate" in r.headers and attempt == 0:
                    self._authenticate(r.headers["WWW-Authenticate"])
                    continue
                if r.status_code < 500:
                    return r
                if attempt == _RETRIES - 1:
                    raise BuildError(f"registry {self.host}: {method} {path} -> {r.status_code}")
            time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def ping(self) -> None:
        r = self._request("GET", "")
        if r.status_code not in (200, 401):
            raise BuildError(f"registry {self.host} does not speak the v2 API ({r.status_code})")

    def digest(self, name: str, reference: str) -> str | None:
        """The manifest digest of name:reference, or None when the registry lacks it."""
        r = self._request(
            "HEAD", f"{name}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}
        )
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise BuildError(f"registry {self.host}: HEAD {name}:{reference} -> {r.status_code}")
        return r.headers["Docker-Content-Digest"]

    def tags(self, name: str) -> list[str]:
        r = self._request("GET", f"{name}/tags/list")
        if r.status_code == 404:
            return []
        if r.status_code != 200:
            raise BuildError(f"registry {self.host}: tags of {name} -> {r.status_code}")
        return sorted(r.json().get("tags") or [])

    def add_tag(self, name: str, source: str, new_tag: str) -> str:
        """Tags the manifest at name:source as name:new_tag too; returns its digest. The
        manifest is re-put byte for byte, so the digest does not change and no layer moves."""
        r = self._request("GET", f"{name}/manifests/{source}", headers={"Accept": MANIFEST_TYPES})
        if r.status_code != 200:
            raise BuildError(f"registry {self.host}: {name}:{source} not found ({r.status_code})")
        digest = r.headers["Docker-Content-Digest"]
        put = self._request(
            "PUT",
            f"{name}/manifests/{new_tag}",
            data=r.content,
            headers={"Content-Type": r.headers["Content-Type"]},
        )
        if put.status_code not in (200, 201):
            raise BuildError(
                f"registry {self.host}: tagging {name}:{source} as {new_tag} failed "
                f"({put.status_code}: {put.text.strip()[:200]})"
            )
        if put.headers.get("Docker-Content-Digest", digest) != digest:
            raise BuildError(f"registry {self.host}: {name}:{new_tag} got a different digest")
        return digest
