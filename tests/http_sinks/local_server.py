"""The simulator's HTTP server (``collector.simulator.httpserver``) as the emulators run it.

On 127.0.0.1 and a free port, with no practical body limit (an emulator answers 413
itself, at its receiver's own limit), and the handler's exceptions kept for the
``servers`` fixture to fail the test on. JSON answers: ``collector.simulator.envelope``.
"""

from __future__ import annotations

import ssl

from collector.simulator.httpserver import Handler, HttpServer, Response

NO_BODY_LIMIT = 1 << 40


class LocalServer(HttpServer):
    """Serves ``handler`` on 127.0.0.1; ``errors`` are the exceptions it raised."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.errors: list[BaseException] = []
        self._scheme = "https" if tls is not None else "http"
        super().__init__(
            handler,
            "127.0.0.1",
            0,
            on_error=self.errors.append,
            tls=tls,
            max_body_bytes=NO_BODY_LIMIT,
        )

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:<port>``."""
        return f"{self._scheme}://127.0.0.1:{self.port}"


def dropped() -> Response:
    """Close the connection without answering (a new one each time: handlers add headers)."""
    return Response(0, disposition="drop")


def status_of(response: Response) -> int | None:
    """The status the client got; None when the connection was dropped."""
    return None if response.disposition == "drop" else response.status
