"""16 threads through one warm ``api_handler`` with mixed states: no write in a wrong database."""

from __future__ import annotations

import threading
from collections import Counter

from aws_helper_sync import api_handler
from tests.api_events import json_body, v1_event, v2_event

THREADS = 16
REQUESTS_PER_THREAD = 8


def test_concurrent_requests_with_mixed_states_write_only_to_their_own_database(
        app_root, mongo_client, make_state):
    states = [make_state(name) for name in ("connecticut", "new_jersey", "ohio", "texas")]
    barrier = threading.Barrier(THREADS)
    answers: list[tuple[str, int, str | None]] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        barrier.wait()
        for n in range(REQUESTS_PER_THREAD):
            state = states[(index + n) % len(states)]
            build = v1_event if n % 2 else v2_event
            event = build("POST", "/records", headers={"Constitution-State": state},
                          body={"sent_to": state, "thread": index, "n": n})
            response = api_handler(event, None)
            with lock:
                answers.append((state, response["statusCode"], json_body(response).get("state")))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(answers) == THREADS * REQUESTS_PER_THREAD
    assert all(status == 201 and echoed == state for state, status, echoed in answers)
    expected = Counter(state for state, _, _ in answers)
    for state in states:
        records = mongo_client[state].records
        assert records.count_documents({}) == expected[state]
        assert records.count_documents({"payload.sent_to": {"$ne": state}}) == 0
        assert records.count_documents({"written_in_state": {"$ne": state}}) == 0
