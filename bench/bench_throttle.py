"""The benchmark's baseline throttle for the "round trip" scenario (``BENCH_THROTTLE_APART=1``)."""

from common.throttling import RoleRateThrottle


class ApartThrottle(RoleRateThrottle):
    """The same throttle, counted in its own Redis round trip: ``catalog.apis`` folds only
    ``RoleRateThrottle`` itself into the cache lookup's round trip."""
