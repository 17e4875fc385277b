"""Database work in several threads at once, as several server threads would do it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import close_old_connections, connection


def run_together(work: Callable[[int], None], workers: int) -> list[BaseException]:
    """work(0..workers-1), each in its own thread, released together; what they raised.

    Each thread closes its own database connection, or the test database could not be
    dropped at the end of the run.
    """
    errors: list[BaseException] = []
    barrier = threading.Barrier(workers)

    def run(worker: int) -> None:
        try:
            barrier.wait()
            work(worker)
        except BaseException as exc:  # handed to the test
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
