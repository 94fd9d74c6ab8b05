"""A small IMAP4rev1 server (RFC 3501) on a real socket, for the IMAP connector's tests.

It implements what a read-only poller uses, faithfully: the greeting, CAPABILITY, LOGIN
(quoted strings), SELECT/EXAMINE with ``EXISTS``, ``UIDVALIDITY`` and ``UIDNEXT``,
``UID SEARCH`` (``ALL``, ``UID <set>``, ``SINCE <date>``; ``n:*`` matches the highest UID
even when it is below n, as RFC 3501 says), ``UID FETCH`` of ``UID``, ``INTERNALDATE`` and
``BODY.PEEK[]``/``BODY[]``/``RFC822`` as literals, NOOP and LOGOUT. Anything else gets ``BAD``.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import ssl
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Stored:
    uid: int
    internal: datetime
    data: bytes


@dataclass
class Mailbox:
    uidvalidity: int = 1700000000
    messages: list[Stored] = field(default_factory=list)
    next_uid: int = 1

    def add(self, data: bytes, internal: datetime) -> int:
        uid = self.next_uid
        self.next_uid += 1
        self.messages.append(Stored(uid, internal, data))
        return uid

    def rebuild(self, uidvalidity: int) -> None:
        """What a server does when it loses its UID map: new UIDVALIDITY, UIDs from 1."""
        self.uidvalidity = uidvalidity
        self.next_uid = 1
        for stored in self.messages:
            stored.uid = self.next_uid
            self.next_uid += 1


def _uid_set(spec: str, highest: int) -> set[int]:
    out: set[int] = set()
    for part in spec.split(","):
        if ":" in part:
            a, b = part.split(":")
            lo = highest if a == "*" else int(a)
            hi = highest if b == "*" else int(b)
            lo, hi = min(lo, hi), max(lo, hi)
            out.update(range(lo, hi + 1))
        else:
            out.add(highest if part == "*" else int(part))
    return out


class ImapServer:
    def __init__(self, user: str, password: str, mailboxes: dict[str, Mailbox]) -> None:
        self.user, self.password = user, password
        self.mailboxes = mailboxes
        self.commands: list[str] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        """Listen on 127.0.0.1 (implicit TLS, as on port 993, when ``ssl_context`` is given)."""
        self.server = await asyncio.start_server(self._session, "127.0.0.1", 0, ssl=ssl_context)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(line: str | bytes) -> None:
            writer.write(line if isinstance(line, bytes) else line.encode() + b"\r\n")

        send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] test server ready")
        authed = False
        box: Mailbox | None = None
        try:
            while True:
                raw = await reader.readline()
                if not raw:
                    return
                line = raw.decode().rstrip("\r\n")
                self.commands.append(line)
                tag, _, rest = line.partition(" ")
                verb, _, args = rest.partition(" ")
                verb = verb.upper()
                if verb == "CAPABILITY":
                    send("* CAPABILITY IMAP4rev1 AUTH=PLAIN")
                    send(f"{tag} OK CAPABILITY completed")
                elif verb == "LOGIN":
                    user, password = shlex.split(args)
                    if (user, password) == (self.user, self.password):
                        authed = True
                        send(f"{tag} OK LOGIN completed")
                    else:
                        send(f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials")
                elif verb in ("SELECT", "EXAMINE") and authed:
                    name = shlex.split(args)[0]
                    box = self.mailboxes.get(name)
                    if box is None:
                        send(f"{tag} NO [NONEXISTENT] no such mailbox")
                        continue
                    send(r"* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)")
                    send(f"* {len(box.messages)} EXISTS")
                    send("* 0 RECENT")
                    send(f"* OK [UIDVALIDITY {box.uidvalidity}] UIDs valid")
                    send(f"* OK [UIDNEXT {box.next_uid}] Predicted next UID")
                    mode = "READ-ONLY" if verb == "EXAMINE" else "READ-WRITE"
                    send(f"{tag} OK [{mode}] {verb} completed")
                elif verb == "UID" and box is not None:
                    self._uid(tag, args, box, send)
                elif verb == "NOOP":
                    send(f"{tag} OK NOOP completed")
                elif verb == "LOGOUT":
                    send("* BYE logging out")
                    send(f"{tag} OK LOGOUT completed")
                    await writer.drain()
                    return
                else:
                    send(f"{tag} BAD unknown or unexpected command")
                await writer.drain()
        finally:
            writer.close()

    def _uid(self, tag: str, args: str, box: Mailbox, send: object) -> None:
        assert callable(send)
        sub, _, rest = args.partition(" ")
        sub = sub.upper()
        highest = max((m.uid for m in box.messages), default=0)
        if sub == "SEARCH":
            words = rest.split()
            if words and words[0].upper() == "CHARSET":
                words = words[2:]
            found = [m.uid for m in box.messages]
            i = 0
            while i < len(words):
                key = words[i].upper()
                if key == "ALL":
                    i += 1
                elif key == "UID":
                    wanted = _uid_set(words[i + 1], highest) if highest else set()
                    found = [u for u in found if u in wanted]
                    i += 2
                elif key == "SINCE":
                    day = datetime.strptime(words[i + 1].strip('"'), "%d-%b-%Y").date()
                    dates = {m.uid: m.internal.date() for m in box.messages}
                    found = [u for u in found if dates[u] >= day]
                    i += 2
                else:
                    send(f"{tag} BAD unsupported search key {key}")
                    return
            send("* SEARCH" + "".join(f" {u}" for u in found))
            send(f"{tag} OK UID SEARCH completed")
        elif sub == "FETCH":
            spec, _, items = rest.partition(" ")
            wanted = _uid_set(spec, highest) if highest else set()
            want_body = re.search(r"BODY(\.PEEK)?\[\]|RFC822\b", items.upper()) is not None
            for seq, stored in enumerate(box.messages, start=1):
                if stored.uid not in wanted:
                    continue
                stamp = stored.internal.strftime("%d-%b-%Y %H:%M:%S %z")
                head = f'* {seq} FETCH (UID {stored.uid} INTERNALDATE "{stamp}"'
                if want_body:
                    send(
                        f"{head} BODY[] {{{len(stored.data)}}}\r\n".encode()
                        + stored.data
                        + b")\r\n"
                    )
                else:
                    send(head + ")")
            send(f"{tag} OK UID FETCH completed")
        else:
            send(f"{tag} BAD unsupported UID command")
