"""Databricks-shaped API errors: HTTP status plus `{"error_code", "message"}`."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, error_code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}


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
