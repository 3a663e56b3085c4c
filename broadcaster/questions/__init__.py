"""Readers' questions on an incident, answered in the thread: the rules, the board (over the
reports' desk and the incident's publisher), the API, the asker's pages and the console's part.

A question is a citizens' report of kind ``question`` linked to its incident; a public answer is
a ``question.answered`` event in the incident's log. No other capability needs these names
(``app.py`` mounts the routes; the console finds the board on ``app.state.questions``).
"""

__all__: list[str] = []
