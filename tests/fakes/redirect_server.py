"""A server that answers every request with a redirect, to prove clients do not follow one into a private network."""

from __future__ import annotations

from tests.fakes.http import FakeServer, Request, Response


class FakeRedirect(FakeServer):
    """307 (method and body kept) to `location` for every request."""

    def __init__(self, location: str) -> None:
        super().__init__()
        self.location = location

    async def handle(self, request: Request) -> Response:
        return Response(307, b"", "text/plain", headers={"Location": self.location})
