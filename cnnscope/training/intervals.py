"""95 % intervals for error rates and their differences. Pure Python.

An error rate measured on n examples is a binomial proportion. Its interval is
Wilson's score interval (Wilson 1927), which keeps its coverage near 0 and 1,
where a good model's error lives, unlike the normal approximation. It equals
scipy's `binomtest(k, n).proportion_ci(method="wilson")`.

The train error is measured on a subsample of n of the N training examples: a
finite population, which it covers entirely when n = N. The finite-population
correction enters as an effective sample size n (N - 1) / (N - n), so the
interval shrinks to the point when the whole training set was measured.

A difference of two rates measured on different examples (variance = validation
- train) gets Newcombe's hybrid score interval (Newcombe 1998, method 10), built
from the two Wilson intervals; statsmodels calls it method "newcomb".

Two models measured on the same examples (improve's trials, on one validation
half) are a paired comparison: only the examples they disagree on move the
difference, and its interval is much narrower. That one is Agresti and Min's
(2005) adjusted Wald interval for paired proportions: half an example added to
each cell of the 2x2 table of right and wrong.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile
MAX_DECIDING_SIZE = 10_000_000  # beyond this, no validation set "decides" a question in practice


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def __iter__(self):  # (low, high), as units.format_rate takes it
        return iter((self.low, self.high))

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high

    def shifted(self, by: float) -> "Interval":
        return Interval(self.low + by, self.high + by)

    def to_list(self) -> list:
        return [self.low, self.high]


def wilson(errors: int, n: float, z: float = Z95) -> Interval:
    """Wilson's score interval for ERRORS wrong of N (N may be an effective, non-integer size)."""
    if n <= 0:
        return Interval(0.0, 1.0)
    p = errors / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # exact at the ends: no errors cannot be fewer than none (the formula leaves a rounding residue there)
    low = 0.0 if errors <= 0 else max(0.0, centre - half)
    high = 1.0 if errors >= n else min(1.0, centre + half)
    return Interval(low, high)


def effective_size(n: int, population: int | None) -> float:
    """N with the finite-population correction; infinite when the whole population was measured."""
    if population is None or population <= n:
        return math.inf if population is not None else float(n)
    return n * (population - 1) / (population - n)


def count(rate: float, n: int) -> int:
    """The number of errors behind a rate measured on N examples (rates are stored as fractions)."""
    return int(round(rate * n))


def rate_interval(rate: float, n: int, population: int | None = None) -> Interval:
    """RATE measured on N examples (of POPULATION, when N may be all of it)."""
    size = effective_size(n, population)
    if math.isinf(size):
        return Interval(rate, rate)
    return wilson(count(rate, n) * size / n, size)


def difference_interval(p1: float, i1: Interval, p2: float, i2: Interval) -> Interval:
    """Newcombe's hybrid score interval for p1 - p2, from each rate's own score interval."""
    d = p1 - p2
    low = d - math.sqrt((p1 - i1.low) ** 2 + (i2.high - p2) ** 2)
    high = d + math.sqrt((i1.high - p1) ** 2 + (p2 - i2.low) ** 2)
    return Interval(low, high)


def paired_difference_interval(only_first: int, only_second: int, n: int, z: float = Z95) -> Interval:
    """The interval of (first model's error - second's) on N shared examples, of which ONLY_FIRST were wrong
    for the first model alone and ONLY_SECOND for the second alone (Agresti & Min 2005)."""
    b, c, m = only_first + 0.5, only_second + 0.5, n + 2
    d = (b - c) / m
    half = z * math.sqrt(max(0.0, (b + c) / m - d * d) / m)
    return Interval(max(-1.0, d - half), min(1.0, d + half))


def size_to_decide(decided, start: int) -> int | None:
    """The smallest n >= START at which DECIDED(n) holds (it must stay true for larger n), or None if even
    MAX_DECIDING_SIZE does not decide: doubling, then bisection."""
    n = max(1, start)
    while not decided(n):
        if n >= MAX_DECIDING_SIZE:
            return None
        n = min(2 * n, MAX_DECIDING_SIZE)
    low = max(1, n // 2)
    while low < n:
        middle = (low + n) // 2
        if decided(middle):
            n = middle
        else:
            low = middle + 1
    return n
