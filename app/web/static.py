"""Static files with caching that never serves a stale release: /static/v/<content hash>/... is
immutable for a year when the hash is this release's own (another release's hash gets today's
files, revalidated on every use, so no browser keeps them under a name that means other bytes);
/static/... (the stable addresses other sites use, such as embed.js) is
revalidated on every use by its ETag."""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"  # may be stored, but asked again (a cheap 304 by ETag) before each use


def static_version(directory: Path) -> str:
    """A short hash of every file's path and bytes: it changes exactly when a served file does, so
    a page's versioned URLs, and the relative module imports under them, always agree."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class CachedStaticFiles(StaticFiles):
    """StaticFiles that states how long a browser may keep what it serves."""

    def __init__(self, *, directory: Path, cache_control: str) -> None:
        super().__init__(directory=directory)
        self.cache_control = cache_control

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = self.cache_control
        return response


class VersionedStaticFiles(CachedStaticFiles):
    """/static/v/<version>/...: immutable only under this release's own version. During a rolling
    restart a page of one release may ask a replica of another for its assets; what that replica
    serves is its own bytes, which must not be kept for a year under the other release's name."""

    def __init__(self, *, directory: Path, version: str) -> None:
        super().__init__(directory=directory, cache_control=IMMUTABLE)
        self.version = version

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if "Cache-Control" in response.headers and scope.get("path_params", {}).get("version") != self.version:
            response.headers["Cache-Control"] = REVALIDATE
        return response
