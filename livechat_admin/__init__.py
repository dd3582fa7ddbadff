"""Admin code: read a workspace file, provision agents, apply a workspace, dry-run routing
rules, export conversations.

A library: the `livechat` command (livechat_cli) runs it on the admin's machine against a
deployed stack (found by its CloudFormation outputs) or against a running `livechat dev`, and
the local stack uses it to load its workspace. It is not part of the Lambda layer and never
imports the local stack.
"""
