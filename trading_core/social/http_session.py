"""One way to make HTTP sessions for the JSON and feed sources: retries with backoff.

Transient answers (429, 5xx) and connection errors are retried with exponential backoff,
honouring ``Retry-After``; what is still failing after that surfaces as an error naming the
request, never as an empty result.
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

USER_AGENT = "trading-pipelines/0.1 (python-requests)"
RETRY_STATUSES = (429, 500, 502, 503, 504)


def retrying_session(retries: int = 3, backoff: float = 0.5) -> requests.Session:
    """A ``requests.Session`` retrying idempotent requests on transient failures."""
    retry = Retry(
        total=retries,
        backoff_factor=backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=("GET", "HEAD"),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session
