"""The unit prices (us-east-1, on-demand, first tier; free tiers ignored), each with where it
was read and how far it could be confirmed offline, and how each service meters its units."""

from __future__ import annotations

from dataclasses import dataclass

PRICES_CHECKED = "2026-11-21"  # when the sources below were looked up (stored copies; their own age varies)


@dataclass(frozen=True)
class Price:
    usd: float  # for `per` units
    per: float
    unit: str
    source: str
    status: str  # how far the figure could be confirmed offline

    @property
    def each(self) -> float:
        return self.usd / self.per


# us-east-1, on-demand, first tier; free tiers ignored. One table, each price with where it was read.
PRICES: dict[str, Price] = {
    "ws_message": Price(1.00, 1e6, "WebSocket message (per 32 KB)",
                        "awsforengineers.com/blog/aws-api-gateway-pricing-explained (2025-05-19); "
                        "stormit.cloud/blog/amazon-api-gateway-pricing (32 KB metering)",
                        "third-party pages; aws.amazon.com/api-gateway/pricing not in the stored copies"),
    "ws_minute": Price(0.25, 1e6, "WebSocket connection-minute",
                       "apigatewaycost.com/aws; stormit.cloud/blog/amazon-api-gateway-pricing",
                       "third-party pages; aws.amazon.com/api-gateway/pricing not in the stored copies"),
    "http_request": Price(1.00, 1e6, "HTTP API request (per 512 KB)",
                          "awsforengineers.com (first 300M); AWS whitepaper best-practices-api-gateway-private-apis-"
                          "integration/cost-optimization (512 KB metering)",
                          "third-party page for the price; AWS whitepaper for the metering"),
    "lambda_request": Price(0.20, 1e6, "Lambda request",
                            "git.mcrn.ar lambda-13-cost.md table (arm64 = x86 request price); kodekloud notes",
                            "third-party pages; aws.amazon.com/lambda/pricing renders its rates client-side"),
    "lambda_gb_s": Price(0.0000133334, 1, "Lambda arm64 GB-second",
                         "cloudchipr.com/blog/aws-lambda-pricing (ARM first 7.5B GB-s); artillery "
                         "lib/platform/aws-lambda/prices.js (arm64 base 1333340e-11)",
                         "third-party pages and code; not read off aws.amazon.com"),
    "wru": Price(0.625, 1e6, "DynamoDB write request unit",
                 "airbyte.com/data-engineering-resources/dynamodb-pricing (US East); AWS News Blog on-demand post "
                 "(updated 2025-01-31: reduced on-demand prices)",
                 "third-party page for the figure; unit rules from docs.aws.amazon.com read-write-operations"),
    "rru": Price(0.125, 1e6, "DynamoDB read request unit",
                 "airbyte.com/data-engineering-resources/dynamodb-pricing (US East)",
                 "third-party page for the figure; unit rules from docs.aws.amazon.com read-write-operations"),
    "sfn_transition": Price(0.025, 1e3, "Step Functions Standard state transition",
                            "aws.amazon.com/step-functions/pricing (US East (N. Virginia) $0.0250 per 1,000)",
                            "AWS pricing page (stored copy)"),
    "ses_recipient": Price(0.10, 1e3, "SES outbound e-mail recipient",
                           "api-evangelist/amazon-ses plans/amazon-ses-plans-pricing.yml, read from the AWS Price List "
                           "API 2026-07-22: a la carte $0.0001 per recipient; the Essentials plan, default for new "
                           "accounts since 2026-07-21, is $0.00016 per e-mail",
                           "third-party transcription of AWS's price list; aws.amazon.com/ses/pricing not stored"),
    "logs_gb": Price(0.50, 1, "CloudWatch Logs GB ingested (standard)",
                     "c3x.dev CloudWatch Logs cost post (us-east-1, June 2026); hykell.com knowledge base",
                     "third-party pages; aws.amazon.com/cloudwatch/pricing not in the stored copies"),
}
SERVICE = {"ws_message": "API Gateway (WebSocket)", "ws_minute": "API Gateway (WebSocket)",
           "http_request": "API Gateway (HTTP API)", "lambda_request": "Lambda", "lambda_gb_s": "Lambda",
           "wru": "DynamoDB", "rru": "DynamoDB", "sfn_transition": "Step Functions", "ses_recipient": "SES",
           "logs_gb": "CloudWatch Logs"}
LAMBDA_MS_GRANULARITY = 1  # Lambda bills duration in 1 ms increments (since December 2020)
WS_UNIT = 32 * 1024  # a WebSocket message is metered per 32 KB
HTTP_UNIT = 512 * 1024  # an HTTP API request is metered per 512 KB
