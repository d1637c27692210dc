"""Numbers as people read them on charts and tables."""

from __future__ import annotations

CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£"}

PHASE_COLORS = {"learning": "#fde68a", "optimizing": "#bbf7d0", "monitoring": "#bfdbfe"}
ANOMALY_COLORS = {"spot_loss": "#d97706", "data_growth": "#7c3aed", "failure": "#dc2626",
                  "user_edit": "#0891b2"}
OTHER_COLOR = "#6b7280"


def duration(seconds: float | None) -> str:
    """``95`` -> ``1m35s``; ``4000`` -> ``1h06m``."""
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def money(amount: float | None, currency: str = "USD") -> str:
    if amount is None:
        return "-"
    sign = CURRENCY_SIGNS.get(currency, "")
    text = f"{abs(amount):,.2f}"
    text = f"{sign}{text}" if sign else f"{text} {currency}"
    return f"-{text}" if amount < 0 else text


def percent(fraction: float | None) -> str:
    if fraction is None:
        return "-"
    text = f"{fraction * 100:.0f}%"
    return "0%" if text == "-0%" else text  # a tiny loss rounds to nothing, not to "-0%"
