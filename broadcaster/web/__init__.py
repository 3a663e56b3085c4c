"""Shared HTTP plumbing only: dependencies, rendering, error pages, security headers, body limits.

Knows no capability: each capability's routes import from here, never the other way round.
"""
