"""Use cases: what the HTTP layer and the CLI ask for, in domain terms.

Services sit between the entry points and the store; they hold transactions
and call pure domain code for every rule.
"""
