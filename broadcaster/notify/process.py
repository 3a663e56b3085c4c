"""The notifier process: sending notifications away from the web processes' CPU.

Encrypting and sending 10,000 pushes takes CPU the live fan-out and the operators' posts need
(docs/benchmarks.md). So by default (``INCIDENTS_NOTIFY_PROCESS=child``) no web process runs a
:class:`~broadcaster.notify.dispatch.Notifier`: ``incidents serve`` starts one child process
(:class:`NotifierChild`, also with ``--workers N``) that lowers its own priority
(``os.nice(INCIDENTS_NOTIFY_NICE)``), opens its own connection to the store and runs the
Notifier (both channels and the e-mail flush loop, :func:`run_notifier`). It has no in-process
tap: it learns of new events by polling the heads every ``INCIDENTS_WEBHOOK_POLL_SECONDS``.

* It stops with the server (SIGTERM from the server, or with the process group), and it does not
  outlive a server killed with SIGKILL: it watches its parent's pid and stops when it changes.
* The server starts it again if it dies (after a pause growing to 30 s if it keeps dying).
* ``incidents notifier`` runs the same alone (another machine, a supervisor of your own); the web
  processes then run with ``INCIDENTS_NOTIFY_PROCESS=off``.

Several notifiers may run at once: the channels' leases let one send (docs/notify-delivery.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import threading
import time

from broadcaster.config import Settings
from broadcaster.notify.dispatch import Notifier
from broadcaster.notify.subscriptions import Subscriptions
from broadcaster.notify.vapid import load_vapid
from broadcaster.stores import open_backend

log = logging.getLogger("incidents.notify")

PARENT_CHECK = 0.5
"""Seconds between two looks at the parent's pid."""
RESTART_FIRST, RESTART_CAP = 1.0, 30.0
"""Seconds before starting a dead notifier again, doubling while it keeps dying soon."""
STEADY = 60.0
"""A notifier that ran this long before dying is started again after the first pause."""
STOP_WAIT = 10.0
"""Seconds a notifier has to stop after SIGTERM before it is killed."""


async def run_notifier(settings: Settings, parent_pid: int | None = None, owner: str | None = None) -> None:
    """Send notifications until SIGTERM/SIGINT, or until the process ``parent_pid`` is gone.

    ``owner``: the name its leases are held under. The server gives each notifier it starts
    the same one, so that one started after another died takes the dead one's leases at once
    (instead of after they lapse): safe, as the server starts it only once the other exited."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    backend = open_backend(settings.backend)
    await backend.start()
    try:
        subscriptions = Subscriptions(backend, settings)
        notifier = Notifier(backend, settings, subscriptions, await load_vapid(backend, settings))
        if owner:
            notifier.owner = owner
            for channel in notifier.channels.values():
                if hasattr(channel, "owner"):
                    channel.owner = f"{owner}:{channel.name}"
        await notifier.start()
        log.info("notifier process %d sending (nice %d)", os.getpid(), os.nice(0))
        try:
            while not stop.is_set():
                if parent_pid is not None and os.getppid() != parent_pid:
                    log.warning("notifier process: the server (pid %d) is gone; stopping", parent_pid)
                    break
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(PARENT_CHECK):
                        await stop.wait()
        finally:
            await notifier.aclose()
    finally:
        await backend.close()


def notifier_main(
    settings: Settings, nice: int, parent_pid: int | None = None, owner: str | None = None
) -> int:
    """``incidents notifier``: lower this process's priority first (the threads started later,
    which encrypt, inherit it), then :func:`run_notifier`."""
    if nice:
        os.nice(nice)
    asyncio.run(run_notifier(settings, parent_pid, owner))
    return 0


class NotifierChild:
    """The server's notifier process: started, watched and started again by a thread of the
    server's main process, stopped by :meth:`stop`."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        """The command that runs ``incidents notifier`` (the server's pid is added)."""
        self.proc: subprocess.Popen[bytes] | None = None
        self.owner = f"{socket.gethostname()}:{os.getpid()}:notifier:{secrets.token_hex(4)}"
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._spawn()
        self._thread = threading.Thread(target=self._watch, name="notifier-child", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        with self._lock:
            if not self._stopping.is_set():
                self.proc = subprocess.Popen(
                    [*self.command, "--parent-pid", str(os.getpid()), "--owner", self.owner]
                )

    def _watch(self) -> None:
        pause = RESTART_FIRST
        while not self._stopping.is_set():
            proc = self.proc
            if proc is None:
                return
            started = time.monotonic()
            code = proc.wait()
            if self._stopping.is_set():
                return
            wait = RESTART_FIRST if time.monotonic() - started > STEADY else pause
            pause = min(wait * 2, RESTART_CAP)
            log.warning("the notifier process exited (%s); starting it again in %.0f s", code, wait)
            if self._stopping.wait(wait):
                return
            self._spawn()

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._thread is not None:
            self._thread.join(STOP_WAIT)
