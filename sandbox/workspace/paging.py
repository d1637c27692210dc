"""Opaque page tokens and the list-slicing the list endpoints share."""

from __future__ import annotations

import base64
from typing import Any

from sandbox.workspace.errors import invalid


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        kind, _, value = text.partition(":")
        if kind != "offset":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"Invalid page token: {token}") from exc


def page(items: list[Any], *, limit: int, page_token: str | None, offset: int = 0,
         ) -> tuple[list[Any], dict[str, Any]]:
    """One page plus the `has_more` / `next_page_token` / `prev_page_token` fields."""
    start = decode_token(page_token) if page_token else offset
    chunk = items[start:start + limit]
    meta: dict[str, Any] = {"has_more": start + limit < len(items)}
    if meta["has_more"]:
        meta["next_page_token"] = encode_token(start + limit)
    if start > 0:
        meta["prev_page_token"] = encode_token(max(0, start - limit))
    return chunk, meta


def int_param(params: dict[str, Any], name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise invalid(f"Invalid value for {name}: {value!r}") from exc


def bool_param(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true" if value is not None else False
