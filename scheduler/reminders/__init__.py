"""Reminders: which triggers an event needs (planning) and firing them on time (dispatch)."""
