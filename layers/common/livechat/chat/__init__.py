"""The use cases: conversations, chat requests, offers, the workflow's tasks, the sweeper,
presence and the quota. Each reads through livechat.store, decides with
livechat.domain, and speaks through livechat.outbound."""
