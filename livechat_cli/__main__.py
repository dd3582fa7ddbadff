"""`python -m livechat_cli ...`: the same as the `livechat` console script."""

import sys

from livechat_cli.main import main

sys.exit(main())
