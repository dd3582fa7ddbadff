from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests.support.admin import deployment  # noqa: F401 (fixture)
from tests.support.aws import Gateway, aws, aws_env, gateway  # noqa: F401 (fixtures)
from tests.support.iam import least_privilege, pytest_runtest_makereport  # noqa: F401 (IAM check: fixture, hook)
from tests.support.workflow import workflow  # noqa: F401 (fixture)
from tests.support.world import World

# Hypothesis profiles. `make test` (and CI) runs "default": derandomized, so a run on main
# explores the same examples every time and a red run is reproducible as-is. `explore`
# draws fresh random examples, many more of them: run it while hunting
# (HYPOTHESIS_PROFILE=explore make test-explore). The moto-backed examples take tens of
# milliseconds each, so no per-example deadline.
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
settings.register_profile("default", derandomize=True, database=None, print_blob=True, deadline=None,
                          suppress_health_check=_SLOW_OK)
settings.register_profile("explore", max_examples=500, print_blob=True, deadline=None, suppress_health_check=_SLOW_OK)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def world(aws: Gateway) -> World:  # noqa: F811 (the fixture above)
    return World(aws)
