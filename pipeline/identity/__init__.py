"""Identity resolution: which contacts belong to one customer.

``keys`` extracts identity keys from a contact (normalised e-mail, network user ids,
phone numbers, customer/order/ticket numbers); ``names`` normalises person names and
issue text for probable matches; ``graph`` unions keys into customers (CRM links,
shared keys, probable matches with confidence and evidence). Plain Python, no Kafka.
"""

from pipeline.identity.graph import IdentityGraph, MatchPolicy, Merge, Resolution
from pipeline.identity.keys import extract_keys

__all__ = ["IdentityGraph", "MatchPolicy", "Merge", "Resolution", "extract_keys"]
