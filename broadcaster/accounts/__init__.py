"""Operators and their accounts: API tokens, passwords, setup links, console sessions,
the audit log, rate limits.
"""
