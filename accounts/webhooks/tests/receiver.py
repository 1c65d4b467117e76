"""A real HTTP receiver on localhost for the webhook tests, and the documented verification
code read from docs/webhooks.md."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DOCS = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def documented(language: str) -> str:
    """The code block of `language` under "Verifying the signature" in docs/webhooks.md."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("### Verifying the signature") :]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


def documented_verify():
    """The Python `verify` function exactly as docs/webhooks.md prints it."""
    namespace: dict = {}
    exec(compile(documented("python"), str(DOCS), "exec"), namespace)  # noqa: S102
    return namespace["verify"]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next of `statuses` (the last one repeats); `hold` makes
    the first POST wait until released (a receiver that has the request and never answers)."""

    statuses: list[int] = field(default_factory=lambda: [200])
    hold_first: bool = False
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    got_first: threading.Event = field(default_factory=threading.Event)

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                number = len(receiver.received)
                receiver.received.append(Received(self.path, dict(self.headers), body))
                receiver.got_first.set()
                if number == 0 and receiver.hold_first:
                    receiver.release.wait(60)
                status = receiver.statuses[min(number, len(receiver.statuses) - 1)]
                answer = (b"ok " * 1000) if status < 300 else b"broken"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks?x=1"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
