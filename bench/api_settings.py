"""Settings of the servers bench.api starts: the product's, plus two bare views to compare."""

from kefu.settings import *  # noqa: F403

ROOT_URLCONF = "bench.api_urls"
