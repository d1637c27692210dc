"""Databricks-shaped API errors: HTTP status plus `{"error_code", "message"}`."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, error_code: str | int, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, str | int]:
        return {"error_code": self.error_code, "message": self.message}


# What a real workspace answers a token it does not take (revoked, expired, unknown) with 403: a number for
# ``error_code``, not a name, and the message again in a reason-phrase header (as databricks-sdk-go
# issues #873 and #917 show a revoked PAT answered).
INVALID_TOKEN_MESSAGE = "Invalid access token."


def token_refused(status: int, message: str = INVALID_TOKEN_MESSAGE) -> ApiError:
    """A token refused outright, answered with ``status``: 403 as Databricks mostly answers it (see
    `INVALID_TOKEN_MESSAGE`), or 401 ``UNAUTHENTICATED``, which some workspaces answer instead."""
    if status == 403:
        return ApiError(403, 403, INVALID_TOKEN_MESSAGE, {"X-Databricks-Reason-Phrase": INVALID_TOKEN_MESSAGE})
    return ApiError(status, "UNAUTHENTICATED", message)


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


# The real service answers an unknown job, run or cluster with 400 INVALID_PARAMETER_VALUE
# and "<Thing> <id> does not exist."; databricks-sdk's error overrides turn exactly that
# message into ResourceDoesNotExist, so the wording matters.
def job_missing(job_id: object) -> ApiError:
    return invalid(f"Job {job_id} does not exist.")


def run_missing(run_id: object) -> ApiError:
    return invalid(f"Run {run_id} does not exist.")


def cluster_missing(cluster_id: object) -> ApiError:
    return invalid(f"Cluster {cluster_id} does not exist")
