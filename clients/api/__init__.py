"""kaption's HTTP API (FastAPI on uvicorn): one more client of the platform. It publishes and
reads events like the CLI; it holds no job state of its own beyond a view of the topics."""
