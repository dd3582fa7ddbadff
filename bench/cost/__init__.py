"""The AWS bill per 1,000 chats, from the calls one scripted chat really makes, times unit prices.

One chat, as the widget and the inbox drive it (layers/common/livechat/web/): the visitor's page
loads the widget (GET /widget.js, GET /dialogs/{id}, POST /visitor/session, GET /config.json),
connects, walks the dialog (startConversation, answer, capture), asks for a chat; an agent
accepts; 20 messages (10 each side, each after the `typing` frames both clients send for it:
web/shared/composer.js throttles them, the bench models it); the visitor's keep-alive pings
(web/shared/socket.js pings 4.5 min after the page's last frame of its own: none while its
messages come every minute); the agent ends the chat; the visitor disconnects. And the chat
nobody answers: the same visitor up to requestChat, the offer expires, the visitor gets the
fallback, the team gets the failure e-mail.

Everything runs in-process on moto with the real handlers (tests/support/world.py) and the real
offer workflow (statemachine/offer.asl.json executed by moto, its Lambda task dispatched to
functions/route_chat, as tests/support/workflow.py does), and is counted:
- every AWS API call, per Lambda function (botocore hooks on every client; tests/support/metering.py);
- DynamoDB request units computed per DynamoDB's item-size rules from the items' sizes before
  and after each write and from the items each read returned (on-demand: a write 1 WRU per KB
  of the larger of the before/after item, transactional 2x; a read 1 RRU per 4 KB strongly
  consistent, 0.5 eventually, transactional 2x; a Query on the summed size of the items it
  read), plus the global secondary index writes (4 indexes, all projecting ALL: 1 write when an
  item enters, leaves or changes in an index, 2 when its index key changes);
- WebSocket frames in (each ws_message event) and out (each post to a connection), with sizes:
  API Gateway bills a message per 32 KB or part of it; HTTP API requests per 512 KB;
- Lambda invocations per function, and each invocation's in-process time as a PROXY for its
  billed duration (moto answers in-process instead of a network round trip, and this machine's
  CPU is not a Lambda arm64 share of 512 MB: read it as an order of magnitude), rounded up to
  Lambda's 1 ms; time spent in a nested invocation (the async failure notifier runs inline
  here) is charged to the nested function only;
- Step Functions state transitions from each execution's history in moto;
- SES recipients of the failure e-mails; CloudWatch Logs bytes: what the functions print at the
  template's POWERTOOLS_LOG_LEVEL=INFO (Powertools JSON lines and metrics), plus Lambda's own
  records per invocation as each function's LoggingConfig lets them through (JSON at
  SystemLogLevel WARN: none for an invocation that succeeds, its report when it fails; the
  text format's START/END/REPORT lines otherwise; shapes from their documented formats).
Prices: us-east-1, on-demand, free tiers ignored; each line printed with its source. Prints
figures, never pass/fail.

    .venv/bin/python -m bench.cost [--chats N] [--unanswered N] [--messages N] [--no-typing] [--json]

run from the repository root. The modules, one concern each:
- prices:   the unit prices, each with its source, and how each service meters its units;
- units:    DynamoDB item sizes and the request units they cost (table and indexes);
- ledger:   what each function used, per scenario: the listener of every AWS call, the
            wrapper of every handler, the log bytes, the Step Functions transitions;
- scenario: the scripted chats and their assumptions, run on the embedded AWS;
- report:   the bill: lines per chat and per 1,000 chats, the totals, the printed table;
- __main__: the command line.
"""
