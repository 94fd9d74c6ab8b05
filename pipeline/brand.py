"""The brand's own accounts: which authors are "us" on each network.

A post by one of these accounts is the company's own (``Mention.is_brand``): it stops SLA
clocks and never escalates. A reply to one of them is ``reply_to_brand``. Built from the
watch list (``WatchList.brand_handles()``) or any ``{network: [identifier, ...]}`` mapping.

Identifiers per social network are handles (``@RailCo``, ``railco``) or immutable user/page
ids (``1234567``); both are compared lower-cased with the ``@`` removed. Under ``email`` the
identifiers are mailboxes (``support@railco.example``) or whole domains (``@railco.example``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pipeline.customer import normalize_email

__all__ = ["BrandAccounts"]

#: Networks whose identifiers are e-mail addresses rather than handles or ids.
MAIL_NETWORKS = frozenset({"email"})


def _handle(value: str) -> str:
    return value.strip().lstrip("@").lower()


@dataclass(frozen=True, slots=True)
class BrandAccounts:
    """Brand handles/ids per network (lower-case, no ``@``) and brand mailboxes and domains.

    Immutable and cheap to query (set look-ups only), so one instance is shared by every
    record a worker normalises.
    """

    accounts: Mapping[str, frozenset[str]] = field(default_factory=dict)
    mailboxes: frozenset[str] = frozenset()
    mail_domains: frozenset[str] = frozenset()

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Iterable[str]]) -> BrandAccounts:
        """Build from ``{network: [identifier, ...]}``, e.g.
        ``{"twitter": ["@RailCo", "1234"], "email": ["service@railco.example", "@railco.example"]}``

        Network names are lower-cased; blank identifiers are ignored.
        """
        accounts: dict[str, frozenset[str]] = {}
        mailboxes: set[str] = set()
        domains: set[str] = set()
        for network, identifiers in mapping.items():
            net = network.strip().lower()
            values = [str(v).strip() for v in identifiers if str(v).strip()]
            if net in MAIL_NETWORKS:
                for value in values:
                    if value.startswith("@") and "@" not in value[1:]:
                        domains.add(value[1:].lower())
                    else:
                        mailboxes.add(normalize_email(value))
            else:
                accounts[net] = accounts.get(net, frozenset()) | {_handle(v) for v in values}
        return cls(
            accounts=accounts, mailboxes=frozenset(mailboxes), mail_domains=frozenset(domains)
        )

    def is_brand_account(self, source: str, identifier: str | None) -> bool:
        """Is ``identifier`` (a user id or handle on ``source``) one of the brand's accounts?"""
        if not identifier:
            return False
        known = self.accounts.get(source)
        return bool(known) and _handle(identifier) in known  # type: ignore[operator]

    def is_brand_mailbox(self, address: str | None) -> bool:
        """Is ``address`` a brand mailbox or in a brand mail domain (``+tag`` folded)?"""
        if not address:
            return False
        normalized = normalize_email(address)
        if normalized in self.mailboxes:
            return True
        return normalized.rpartition("@")[2] in self.mail_domains

    def is_brand(
        self,
        source: str,
        author_id: str | None = None,
        handle: str | None = None,
        email: str | None = None,
    ) -> bool:
        """Did the brand write it? True when the id, the handle or the e-mail address matches."""
        return (
            self.is_brand_account(source, author_id)
            or self.is_brand_account(source, handle)
            or self.is_brand_mailbox(email)
        )
