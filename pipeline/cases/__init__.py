"""Cases: one customer, one case. Contacts, lifecycle, routing and the offline join."""

from pipeline.cases.contact import Contact, ContactError
from pipeline.cases.join import OfflineJoin, resolve_contact, resolve_link
from pipeline.cases.lifecycle import CaseBook, CasePolicy, case_id_for
from pipeline.cases.routing import Routing, load_routing

__all__ = [
    "CaseBook",
    "CasePolicy",
    "Contact",
    "ContactError",
    "OfflineJoin",
    "Routing",
    "case_id_for",
    "load_routing",
    "resolve_contact",
    "resolve_link",
]
