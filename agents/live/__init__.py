"""live: ingest of live streams and per-stream speech detection."""
