from __future__ import annotations

import pytest

from tests.support.admin import deployment  # noqa: F401 (fixture)
from tests.support.aws import Gateway, aws, aws_env, gateway  # noqa: F401 (fixtures)
from tests.support.workflow import workflow  # noqa: F401 (fixture)
from tests.support.world import World


@pytest.fixture
def world(aws: Gateway) -> World:  # noqa: F811 (the fixture above)
    return World(aws)
