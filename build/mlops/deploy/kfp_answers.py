"""What a Kubeflow Pipelines API error answer means for a deploy: worth another attempt, or a
refusal that the same request will meet again.

The API server answers some refusals 500, not 4xx: a pipeline package its template parser
refuses (upload endpoints before 2.17), a run or recurring run naming a missing version or
another pipeline's version (CreateRun, CreateJob: INTERNAL wrapping the cause). Its message
then carries the cause's kind as the server's error types print it ("Invalid input error:",
"InvalidInputError:", "ResourceNotFoundError:", "Already exist error:"); a 500 without one
(a database or Kubernetes hiccup) may pass on a second attempt."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# Proxies and load balancers in front of the API server, and the server when overloaded.
TRANSIENT_STATUSES = {429, 502, 503, 504}
# The cause's kind, as the server's UserError constructors prefix their messages.
REFUSAL_MARKERS = (
    "Invalid input error:",
    "InvalidInputError:",
    "ResourceNotFoundError:",
    "Already exist error:",
)


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    message: str  # the server's own message, else the HTTP reason

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed if sent again."""
        if self.status in TRANSIENT_STATUSES:
            return True
        if self.status == 500:
            return not any(marker in self.message for marker in REFUSAL_MARKERS)
        return False

    def describe(self) -> str:
        text = f"{self.status} {self.reason}".strip()
        return f"{text}: {self.message}" if self.message and self.message != self.reason else text


def answer_of(error: Any) -> Answer:
    """The status and the server's message of a kfp_server_api ApiException. The gateway's
    errors carry `message` (and `error`), the upload endpoints' `error_message`."""
    status = int(getattr(error, "status", 0) or 0)
    reason = str(getattr(error, "reason", "") or "")
    body = getattr(error, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    message = ""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("message", "error_message", "error"):
            if parsed.get(key):
                message = str(parsed[key])
                break
    elif body:
        message = str(body).strip()[:500]
    return Answer(status, reason, message or reason)
