"""Citizens' reports (网络诉求): the rules, the desk, statistics, tracking codes, API, pages and console."""

__all__: list[str] = []  # no other capability needs its names; app.py mounts its routes
