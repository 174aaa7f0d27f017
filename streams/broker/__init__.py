"""Brokers: the local Apache Kafka kaption starts itself (one node or a loopback cluster), the
Tansu fallback where no Java is, and the one switch (:mod:`streams.broker.kind`) that tells
which kind of broker a process talks to."""
