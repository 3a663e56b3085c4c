"""Views of an incident for other sites and systems: Atom, JSON Feed, oEmbed, CAP 1.2 and its indexes."""

__all__: list[str] = []  # no other capability needs its names; app.py mounts its routes
