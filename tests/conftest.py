import os

import jax
import jax.random as jr
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def getkey():
    keys = iter(jr.split(jr.key(0), 10_000))
    return lambda: next(keys)


# The command line keeps compiled programs on disk by default; tests run without that cache
# (the tests of the cache choose their own folder).
os.environ.setdefault("FOURIERFLOW_CACHE_DIR", "off")
