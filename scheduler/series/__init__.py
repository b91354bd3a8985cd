"""Recurring series in domain terms: reading and expanding their rules (``rules``)."""
