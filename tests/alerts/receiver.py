"""A real HTTP receiver for webhook tests: http.server on a free loopback port, in a
thread of the test process, answering from a script and keeping what it was sent."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Receiver:
    """``answers``: the status for each request in turn (the last one repeats).
    ``hang``: when set, each request waits on this event before answering."""

    answers: list[int] = field(default_factory=lambda: [200])
    hang: threading.Event | None = None
    received: list[Received] = field(default_factory=list)
    in_flight: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/touchstone"

    def start(self) -> Receiver:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length).decode()
                owner.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                owner.in_flight += 1
                try:
                    if owner.hang is not None:
                        owner.hang.wait(300)  # released by stop()
                    index = min(len(owner.received), len(owner.answers)) - 1
                    self.send_response(owner.answers[index])
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender gave up (its timeout): nothing to answer
                finally:
                    owner.in_flight -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.hang is not None:
            self.hang.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
