"""Webhooks: the endpoint rules, the registry, delivery (leased, ordered, at least once) and their routes."""
