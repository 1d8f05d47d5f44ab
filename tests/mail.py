"""A real SMTP server for tests (aiosmtpd on a free port) that keeps what it receives.

Tests point Django at it (the `smtp_server` fixture in tests/conftest.py) and read the
delivered messages back, headers and both bodies, as a mail client would see them.
"""

from __future__ import annotations

import email
import threading
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller

from tests.processes import free_port, wait_for


class Mailbox:
    """The aiosmtpd handler: accepts every message unless told to answer otherwise."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        # Replies to give to the next DATA commands instead of accepting, e.g. "451 ...".
        self.replies: list[str] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook name)
        with self._lock:
            if self.replies:
                return self.replies.pop(0)
            message = email.message_from_bytes(envelope.content, policy=default_policy)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}/"

    @property
    def messages(self) -> list[EmailMessage]:
        return self.mailbox.messages

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def wait_for_message(self, to: str, *, timeout: float = 30) -> EmailMessage:
        """The first message delivered to `to`, waiting for it to arrive."""

        def find() -> EmailMessage | None:
            return next((m for m in self.messages if to in str(m["To"])), None)

        found = wait_for(find, timeout=timeout)
        assert isinstance(found, EmailMessage)
        return found


def bodies(message: EmailMessage) -> tuple[str, str]:
    """(plain text, HTML) of a delivered message."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None, "both bodies must be there"
    return str(text.get_content()), str(html.get_content())
