"""The `livechat` command: the project's only entry point ([project.scripts] in pyproject.toml).

`main` holds the argparse tree; one module per command group runs it:

- `dev`: the whole system locally (the only command that loads the local stack, moto and all);
- `apply`, `route`, `conversations`: admin commands against a deployed stack or a running
  `livechat dev`, on top of `livechat_admin` (the library: workspace files, provisioning,
  dry runs, exports);
- `deployment`: what the admin commands share (finding the target, reading the workspace file).

Exit status: 0 done, 1 the stack or a name could not be found, 2 an invalid file or input.
"""
