"""Admin tooling: apply a workspace file, dry-run routing rules, export conversations.

Runs on the admin's machine against a deployed stack (found by its CloudFormation outputs)
or against a running `livechat dev`; it is not part of the Lambda layer.
"""
