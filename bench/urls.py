"""The product's URLs plus the bare DRF view that HTTP benchmarks use as their floor."""

from django.urls import path

from accessportal.urls import urlpatterns as product_urls
from bench.views import BareView

urlpatterns = [
    path("api/v1/bench/bare/", BareView.as_view(), name="bench-bare"),
    *product_urls,
]
