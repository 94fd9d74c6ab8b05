"""mentionflow: find the posts that need a human answer, one case per customer, SLA alerts."""

__version__ = "0.1.0"
