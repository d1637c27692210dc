"""How a reason names an amount of money. The core is told the prices' currency (the server's price
catalog's) only so that a person reading a reason knows what "1.15/run" is in."""

from __future__ import annotations


def money(amount: float, currency: str, digits: str = ".4g") -> str:
    """``$1.147`` for USD, ``1.147 EUR`` for another code, the bare number without one."""
    if amount != amount or amount in (float("inf"), float("-inf")):
        return "unknown"  # a prediction that failed: never "$nan"
    # Four significant digits read well up to $1,000; above, whole amounts with separators, not "1e+04".
    number = format(amount, ",.0f") if abs(amount) >= 1000 and digits == ".4g" else format(amount, digits)
    if number.startswith("-") and float(number.replace(",", "")) == 0:
        number = number[1:]  # "-0.00" is zero
    if currency == "USD":
        return f"-${number[1:]}" if number.startswith("-") else f"${number}"
    return f"{number} {currency}" if currency else number
