"""Database access in domain terms.

``database`` owns the engine, sessions and migrations; the other modules hold
the queries for one kind of row each. Nothing above this package writes SQL.
"""
