"""The partition key of a customer before any merge: the strongest identity a mention carries.

E-mail: ``email:<lower-cased address>``; social: ``<source>:<author id>`` (ids, unlike
handles, never change), falling back to ``<source>:@<handle>``; else the mention id.
The contact join may later merge several such keys into one customer.
"""

from __future__ import annotations

from pipeline.mention import Mention

__all__ = ["customer_key", "normalize_email"]


def normalize_email(address: str) -> str:
    """Lower-case, trimmed; ``+tag`` sub-addresses folded (``a+x@b.de`` is ``a@b.de``)."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    if not local:
        return address.strip().lower()
    local = local.split("+", 1)[0]
    return f"{local}@{domain}"


def customer_key(mention: Mention) -> str:
    author = mention.author
    if author.email:
        return f"email:{normalize_email(author.email)}"
    if author.id:
        return f"{mention.source}:{author.id}"
    if author.handle:
        return f"{mention.source}:@{author.handle.lower().lstrip('@')}"
    return f"mention:{mention.id}"
