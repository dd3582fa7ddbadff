"""livechat: serverless live chat routing — the shared package of every Lambda function."""
