"""API rate limits whose cost does not grow with the rate.

DRF's throttles keep, per client, the list of the timestamps of every request in the
window, and read and write the whole list through the cache on every call: at the `user`
default of 1,200/minute that is up to 1,200 floats pickled twice per request (and sent to
Redis and back when `CACHE_URL` is set); an integration allowed 100,000/minute made every
call slower the busier it was (bench/README.md, "Throughput").

These throttles count instead: one counter per client per fixed window, and the limit is
applied to a sliding window estimated from the current and the previous counters (the
previous window's count weighted by how much of it the sliding window still covers). A
client gets at most the configured number of requests in any window-long span, give or
take the estimate's rounding, and each call costs three small cache operations whatever
the rate. Refused calls are not counted, as with DRF's throttles. Rates, scopes, cache
keys per address or account, 429 and `Retry-After` are those of DRF.
"""

from __future__ import annotations

import math

from rest_framework.throttling import (
    AnonRateThrottle,
    ScopedRateThrottle,
    SimpleRateThrottle,
    UserRateThrottle,
)

from accessportal.client_address import client_ip


class CountingRateThrottle(SimpleRateThrottle):
    """A sliding-window counter in place of DRF's list of timestamps."""

    def get_ident(self, request) -> str:
        """The client's address by the rule the login throttle uses (one place)."""
        return client_ip(request)

    def _windows(self) -> tuple[str, str, float]:
        """Keys of the current and previous windows, and how far into the current one we are."""
        window, elapsed = divmod(self.now, self.duration)
        window = int(window)
        return f"{self.key}:{window}", f"{self.key}:{window - 1}", elapsed / self.duration

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        current_key, previous_key, self.into = self._windows()
        counts = self.cache.get_many([current_key, previous_key])
        self.current = counts.get(current_key, 0)
        self.previous = counts.get(previous_key, 0)
        if self.previous * (1 - self.into) + self.current >= self.num_requests:
            return False
        # Two windows' lifetime: the next window still reads this one as its previous.
        if not self.cache.add(current_key, 1, 2 * self.duration):
            try:
                self.cache.incr(current_key)
            except ValueError:  # expired between add and incr
                self.cache.set(current_key, 1, 2 * self.duration)
        return True

    def wait(self) -> float:
        """Whole seconds after which the estimate is below the limit again."""
        room = self.num_requests - self.current
        if room <= 0:
            # Wait for the next window; there, this window's count is the weighted one.
            until = (1 - self.into) + (1 - self.num_requests / self.current)
        else:
            until = (1 - room / self.previous) - self.into
        return float(math.floor(until * self.duration) + 1)


class AnonThrottle(AnonRateThrottle, CountingRateThrottle):
    """Anonymous calls, per client address (scope `anon`)."""


class UserThrottle(UserRateThrottle, CountingRateThrottle):
    """Authenticated calls, per account whatever the address (scope `user`)."""


class ScopedThrottle(ScopedRateThrottle, CountingRateThrottle):
    """Views with a `throttle_scope` of their own (`auth_token`), per account or address."""
