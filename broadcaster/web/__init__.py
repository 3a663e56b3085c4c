"""The HTTP and live-socket surface (CONTRACT.md), thin over the domain."""
