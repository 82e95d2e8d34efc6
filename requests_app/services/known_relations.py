"""What a write service knows of a request's relations, kept on the instance it returns.

The API answers a create or a review with the request as a read would show it (its
reviews, thresholds, break-glass ratification, ETag). The service that just wrote it under
the row lock knows those relations already: it keeps them on the instance, as
`prefetch_related` would, so the answer is built without reading them back.
"""

from __future__ import annotations

from collections.abc import Iterable

from requests_app.models import AccessRequest, Review


def remember_reviews(request: AccessRequest, reviews: Iterable[Review]) -> None:
    """`request.reviews.all()` is `reviews` (every review of the request, read or written
    under its lock) from now on, without a query."""
    cached = Review.objects.filter(request=request)
    cached._result_cache = list(reviews)
    cached._prefetch_done = True
    if not hasattr(request, "_prefetched_objects_cache"):
        request._prefetched_objects_cache = {}
    request._prefetched_objects_cache[AccessRequest.reviews.field.remote_field.cache_name] = cached


def remember_no_break_glass(request: AccessRequest) -> None:
    """`request.break_glass` is known absent (an ordinary request: created pending, or
    reviewed while pending, which a break-glass use never is once committed)."""
    AccessRequest.break_glass.related.set_cached_value(request, None)


def relations_known(request: AccessRequest) -> bool:
    """Whether a service kept `request`'s reviews and break-glass use on it (above)."""
    cache = getattr(request, "_prefetched_objects_cache", {})
    return (
        AccessRequest.reviews.field.remote_field.cache_name in cache
        and AccessRequest.break_glass.related.is_cached(request)
    )
