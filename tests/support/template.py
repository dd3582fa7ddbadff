"""The template loader lives with the local stack, which builds its resources from it too."""

from livechat_local.template import (
    ROOT,
    CloudFormationLoader,
    definition_placeholders,
    load_template,
    state_machine_definition,
    table_create_kwargs,
    user_pool_create_kwargs,
)

__all__ = [
    "ROOT",
    "CloudFormationLoader",
    "definition_placeholders",
    "load_template",
    "state_machine_definition",
    "table_create_kwargs",
    "user_pool_create_kwargs",
]
