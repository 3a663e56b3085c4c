"""The rules, no I/O: events and their wire format, the timeline fold, areas on the
map, text checks, Markdown.

Imports nothing of the project but ``core`` itself, so every rule is tested without a socket or a store.
"""
