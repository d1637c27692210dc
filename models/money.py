"""How a reason names an amount of money. The core is told the prices' currency (the server's price
catalog's) only so that a person reading a reason knows what "1.15/run" is in."""

from __future__ import annotations


def money(amount: float, currency: str, digits: str = ".4g") -> str:
    """``$1.147`` for USD, ``1.147 EUR`` for another code, the bare number without one."""
    number = format(amount, digits)
    if currency == "USD":
        return f"-${number[1:]}" if number.startswith("-") else f"${number}"
    return f"{number} {currency}" if currency else number
