"""Redis backend: logs as Streams, fan-out over one Pub/Sub link per process.

All keys of one log share the hash tag ``{LOG}`` (``{LOG}:meta``, ``{LOG}:stream``,
``{LOG}:idem``), so the append script touches a single slot and works on Redis Cluster.
An event's stream entry ID is ``SEQ-0``; the script stores and publishes it in one
atomic step, and the publish carries the encoded event so no process encodes it again.

URLs:

* ``redis://[user:password@]host:port/db``, ``rediss://...`` (TLS), ``unix:///path``:
  one standalone Redis.
* ``redis+cluster://[user:password@]host:port/`` (``rediss+cluster://`` for TLS): a
  Redis Cluster, reached through that seed node; the client discovers the other nodes
  and routes every command and script to the master of its keys' slot. Each command
  or script touches one slot (a log's keys share ``{LOG}``; the index ``logs:{KIND}``,
  ``doc:{KEY}``, ``claim:{KEY}`` and ``blob:{KEY}`` are one key each). Cluster mode
  has database 0 only. A ``redis://`` URL naming a cluster node is refused at start,
  with a hint to use ``redis+cluster://`` (a plain client would hit MOVED errors).

Pub/Sub on a cluster uses classic PUBLISH, which the cluster bus forwards to every
node, so the one pub/sub link per process is a SUBSCRIBE on any single node; when
it drops, the next attempt goes to the next node the client knows (a dead node is
skipped), and the usual resync refills every subscribed log from the streams.
``warnings()`` checks the persistence settings of every master.
"""

from __future__ import annotations

from broadcaster.stores.redis.keys import index_score, index_time, log_keys
from broadcaster.stores.redis.store import RedisBackend

__all__ = ["RedisBackend", "index_score", "index_time", "log_keys"]
