"""The public read path: hot public GETs answered from representations built once per
change, compressed once, revalidated by ETag, without walking the route table."""

from broadcaster.reads.encoding import compress, negotiate

__all__ = ["compress", "negotiate"]
