"""The partition key of a customer before any merge: the strongest identity a mention carries.

E-mail: ``email:<lower-cased address>``; social: ``<source>:<author id>`` (ids, unlike
handles, never change), falling back to ``<source>:@<handle>``; else the mention id.
The contact join may later merge several such keys into one customer.

**Hashing** (optional, ``MENTIONFLOW_HASH_CUSTOMER_KEYS=true`` with a pepper in
``MENTIONFLOW_CUSTOMER_KEY_SECRET``): every customer and identity key is replaced by
``<kind>:h.<first 32 hex digits of HMAC-SHA256(secret, key)>`` (``email:h.3f2a...``), in the
escalation key and ``customer_key`` field and, through :mod:`pipeline.identity.keys`, in
every identity key the contact join stores and publishes (case ``customer`` and
``customer_keys``, merge evidence). The kind stays readable (the join weighs keys by kind);
equal keys give equal digests, so the same customer still merges; without the secret a
digest cannot be reversed by hashing guessed addresses. Every worker must use the same
secret; changing it splits every customer in two (old and new digests): rotate only with
a fresh deployment of the join's state.
"""

from __future__ import annotations

import hashlib
import hmac
import threading

from pipeline.mention import Mention

__all__ = [
    "HASH_MARK",
    "configure_key_hashing",
    "customer_key",
    "hash_key",
    "is_hashed",
    "normalize_email",
    "plain_customer_key",
    "protect_key",
]

#: Marks a hashed key's value: ``<kind>:h.<32 hex digits>``.
HASH_MARK = "h."
_DIGEST_CHARS = 32

_lock = threading.Lock()
_secret: bytes | None = None
_configured = False


def normalize_email(address: str) -> str:
    """Lower-case, trimmed; ``+tag`` sub-addresses folded (``a+x@b.de`` is ``a@b.de``)."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    if not local:
        return address.strip().lower()
    local = local.split("+", 1)[0]
    return f"{local}@{domain}"


def plain_customer_key(mention: Mention) -> str:
    """The customer key in clear, whatever the hashing setting."""
    author = mention.author
    if author.email:
        return f"email:{normalize_email(author.email)}"
    if author.id:
        return f"{mention.source}:{author.id}"
    if author.handle:
        return f"{mention.source}:@{author.handle.lower().lstrip('@')}"
    return f"mention:{mention.id}"


def customer_key(mention: Mention) -> str:
    """The customer key of ``mention``, hashed when hashing is on (see module docstring)."""
    return protect_key(plain_customer_key(mention))


def is_hashed(key: str) -> bool:
    _, _, value = key.partition(":")
    digest = value[len(HASH_MARK) :]
    return (
        value.startswith(HASH_MARK)
        and len(digest) == _DIGEST_CHARS
        and all(ch in "0123456789abcdef" for ch in digest)
    )


def hash_key(key: str, secret: bytes) -> str:
    """``<kind>:h.<hex>`` for ``key`` (``<kind>:<value>``); a hashed key is returned as is."""
    if is_hashed(key):
        return key
    kind, sep, _ = key.partition(":")
    digest = hmac.new(secret, key.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return f"{kind if sep else 'key'}:{HASH_MARK}{digest[:_DIGEST_CHARS]}"


def configure_key_hashing(secret: bytes | None) -> None:
    """Set the process-wide pepper (None: keys in clear). Without a call, the first use
    reads the environment (:func:`pipeline.settings.customer_key_secret`)."""
    global _secret, _configured
    with _lock:
        _secret, _configured = secret, True


def _current_secret() -> bytes | None:
    global _secret, _configured
    if not _configured:
        from pipeline.settings import customer_key_secret

        with _lock:
            if not _configured:
                _secret, _configured = customer_key_secret(), True
    return _secret


def protect_key(key: str) -> str:
    """``key`` as it may appear in output topics: hashed when hashing is on, else as is."""
    secret = _current_secret()
    return key if secret is None else hash_key(key, secret)
