import pytest


@pytest.fixture(autouse=True)
def bench_urls(settings):
    """The bench URL conf: the product's URLs plus the bare view HTTP figures compare with."""
    settings.ROOT_URLCONF = "bench.urls"
