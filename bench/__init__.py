"""The fan-out benchmark (issue 5): ``python -m bench``; method and results in docs/benchmarks.md.

Modules: ``__main__`` (command line, run, results), ``scenarios`` (what is measured and how),
``servers`` (the product and the peers as real processes, Redis), ``loadclient`` (raw
WebSocket subscribers in separate processes), ``publisher`` (timed POSTs through the real
API), ``procs`` (/proc CPU and RSS, process groups that are always stopped), ``report`` and
``plot`` (the table and the chart). ``peers/`` holds the reference servers, run from their
own virtualenv (``bench/.venv-peers``, from ``requirements-peers.txt``).
"""
