"""Publishing job requests from the API with the CLI's own client (clients/jobs.py): the same
idempotent producer, acks=all, and the same broker watch that gives up on an outage."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from clients.jobs import JobClient
from streams.broker.topics import Outgoing
from streams.events.model import JobRequested
from streams.settings import KaptionSettings

# A request waits this long at most for an unreachable broker before it is answered 503.
PUBLISH_GIVE_UP_S = 20.0
PUMP_S = 1.0


class JobPublisher:
    """One JobClient's producer, shared by the API's request threads (one send at a time).
    The client's reader is not used (the API has its own view) and is closed at once; the
    producer's callbacks are served every PUMP_S so its statistics never pile up."""

    def __init__(self, settings: KaptionSettings) -> None:
        limit = min(settings.client_unreachable_timeout_s, PUBLISH_GIVE_UP_S)
        self.client = JobClient(settings.model_copy(update={"client_unreachable_timeout_s": limit}))
        self.client.consumer.close()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.pump = threading.Thread(target=self._pump, name="kaption-api-publish", daemon=True)
        self.pump.start()

    def publish(
        self,
        job_id: str,
        source: str,
        name: str,
        language: str,
        model: str = "",
        language_detection: str = "job",
        languages: tuple[str, ...] = (),
        speakers: bool = False,
    ) -> JobRequested:
        """Publishes the request and returns it once the broker acknowledged it (raises
        BrokerUnreachable past the limit)."""
        request = JobRequested(
            job_id=job_id,
            source=source,
            name=name,
            language=language,
            requested_at=datetime.now(UTC),
            model=model,
            language_detection=language_detection,
            languages=languages,
            speakers=speakers,
        )
        with self.lock:
            self.client.send(Outgoing("jobs.requested", request))
        return request

    def _pump(self) -> None:
        while not self.stopping.wait(PUMP_S):
            with self.lock:
                self.client.producer.poll(0)

    def close(self) -> None:
        self.stopping.set()
        self.pump.join()
        with self.lock:
            self.client.producer.flush(5.0)
