"""The deploy's CloudFormation template: every AWS resource of one function, as one stack.

The ECR repository is not here: the image must be pushed before the stack can name it.
The bucket's notification is not here either: CloudFormation can only own a bucket's
whole notification configuration, and the bucket is the user's (deploy.sh merges ours).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tools.deploy import policy

BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
RETRIES = 2
MAX_EVENT_AGE_S = 6 * 3600
QUEUE_RETENTION_S = 14 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Plan:
    """What one deploy declares: deploy.sh's options and the checked configuration."""

    function_name: str
    bucket: str
    image_uri: str
    region: str
    source_prefix: str
    output_bucket: str
    output_prefixes: tuple[str, ...]
    environment: dict[str, str]
    namespace: str = "ImageResizer"
    arch: str = "arm64"
    memory: int = 1769
    timeout: int = 60
    reserved: int | None = None
    log_retention: int = 30
    alarm_email: str | None = None
    bus_arn: str | None = None  # an ARN, or a bus name (made an ARN of this account)
    tags: dict[str, str] = field(default_factory=dict)


def template(plan: Plan) -> dict[str, Any]:
    """The whole template, as a dict ready for json.dumps."""
    name = plan.function_name
    queue_arn = {"Fn::GetAtt": ["FailureQueue", "Arn"]}
    bus: Any = None
    if plan.bus_arn:
        bus = plan.bus_arn
        if not bus.startswith("arn:"):
            bus = {
                "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}"
                f":event-bus/{plan.bus_arn}"
            }
    function: dict[str, Any] = {
        "FunctionName": name,
        "PackageType": "Image",
        "Code": {"ImageUri": plan.image_uri},
        "Role": {"Fn::GetAtt": ["Role", "Arn"]},
        "Architectures": [plan.arch],
        "MemorySize": plan.memory,
        "Timeout": plan.timeout,
        "Environment": {"Variables": plan.environment},
    }
    if plan.reserved is not None:
        function["ReservedConcurrentExecutions"] = plan.reserved
    resources: dict[str, Any] = {
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": f"{name}-role",
                "Description": f"image-resizer function {name}",
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "ManagedPolicyArns": [BASIC_EXECUTION],
            },
        },
        "RolePolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "s3-and-failures",
                "Roles": [{"Ref": "Role"}],
                "PolicyDocument": policy.policy(
                    plan.bucket,
                    plan.source_prefix,
                    plan.output_bucket,
                    plan.output_prefixes,
                    queue_arn,
                    bus,
                ),
            },
        },
        "FailureQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": f"{name}-failures",
                "MessageRetentionPeriod": QUEUE_RETENTION_S,
            },
        },
        # Made before the function, so that it never logs without a retention period.
        "LogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "LogGroupName": f"/aws/lambda/{name}",
                "RetentionInDays": plan.log_retention,
            },
        },
        "Function": {
            "Type": "AWS::Lambda::Function",
            # The policy first: a function must never run with a role that cannot work.
            "DependsOn": ["LogGroup", "RolePolicy"],
            "Properties": function,
        },
        # Bounded retries, then the queue (Lambda checks the role may send to it: hence
        # after the policy).
        "FailureDestination": {
            "Type": "AWS::Lambda::EventInvokeConfig",
            "DependsOn": "RolePolicy",
            "Properties": {
                "FunctionName": {"Ref": "Function"},
                "Qualifier": "$LATEST",
                "MaximumRetryAttempts": RETRIES,
                "MaximumEventAgeInSeconds": MAX_EVENT_AGE_S,
                "DestinationConfig": {"OnFailure": {"Destination": queue_arn}},
            },
        },
        "S3InvokePermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "FunctionName": {"Ref": "Function"},
                "Action": "lambda:InvokeFunction",
                "Principal": "s3.amazonaws.com",
                "SourceArn": f"arn:aws:s3:::{plan.bucket}",
                "SourceAccount": {"Ref": "AWS::AccountId"},
            },
        },
        "Dashboard": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {"DashboardName": name, "DashboardBody": dashboard(plan)},
        },
    }
    actions: dict[str, Any] = {}
    if plan.alarm_email:
        resources["AlarmTopic"] = {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": f"{name}-alarms"},
        }
        resources["AlarmSubscription"] = {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": "AlarmTopic"},
                "Protocol": "email",
                "Endpoint": plan.alarm_email,
            },
        }
        actions = {"AlarmActions": [{"Ref": "AlarmTopic"}], "OKActions": [{"Ref": "AlarmTopic"}]}
    for logical, alarm in alarms(plan).items():
        resources[logical] = {"Type": "AWS::CloudWatch::Alarm", "Properties": alarm | actions}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"image-resizer: function {name}, its role, queue, logs and alarms",
        "Resources": resources,
        "Outputs": {
            "FunctionArn": {"Value": {"Fn::GetAtt": ["Function", "Arn"]}},
            "ImageUri": {"Value": plan.image_uri},
            "FailureQueueUrl": {"Value": {"Ref": "FailureQueue"}},
        },
    }


def alarms(plan: Plan) -> dict[str, dict[str, Any]]:
    """Any error, throttle or failed object within five minutes; any message left in the queue."""
    name = plan.function_name
    function = [{"Name": "FunctionName", "Value": name}]
    queue = [{"Name": "QueueName", "Value": f"{name}-failures"}]
    rows = {
        "ErrorsAlarm": (
            "errors", "AWS/Lambda", "Errors", function, "Sum",
            f"{name} raised errors (a retry follows; then the failure queue)",
        ),
        "ThrottlesAlarm": (
            "throttles", "AWS/Lambda", "Throttles", function, "Sum",
            f"{name} was throttled (concurrency limit reached)",
        ),
        "ObjectsFailedAlarm": (
            "objects-failed", plan.namespace, "ObjectsFailed", function, "Sum",
            f"{name} could not resize some objects (see its logs for the reasons)",
        ),
        "FailureQueueAlarm": (
            "failure-queue", "AWS/SQS", "ApproximateNumberOfMessagesVisible", queue, "Maximum",
            f"events that {name} gave up on wait in {name}-failures",
        ),
    }  # fmt: skip
    return {
        logical: {
            "AlarmName": f"{name}-{suffix}",
            "AlarmDescription": description,
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": dimensions,
            "Statistic": statistic,
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
        }
        for logical, (suffix, namespace, metric, dimensions, statistic, description) in rows.items()
    }


def dashboard(plan: Plan) -> str:
    """The dashboard's body: AWS's metrics of the function and queue, and the function's own."""
    fn = ["FunctionName", plan.function_name]
    lam, custom = "AWS/Lambda", plan.namespace

    def widget(title: str, metrics: list[list[Any]], stat: str = "Sum") -> dict[str, Any]:
        props = {
            "title": title,
            "region": plan.region,
            "view": "timeSeries",
            "stat": stat,
            "period": 300,
            "metrics": metrics,
        }
        return {"type": "metric", "width": 12, "height": 6, "properties": props}

    queue = ["QueueName", f"{plan.function_name}-failures"]
    widgets = [
        widget("Invocations", [[lam, "Invocations", *fn]]),
        widget(
            "Duration p50 / p99 (ms)",
            [[lam, "Duration", *fn, {"stat": "p50"}], [lam, "Duration", *fn, {"stat": "p99"}]],
        ),
        widget("Errors and throttles", [[lam, "Errors", *fn], [lam, "Throttles", *fn]]),
        widget("Concurrent executions", [[lam, "ConcurrentExecutions", *fn]], stat="Maximum"),
        widget(
            "Async events dropped, destination delivery failures",
            [[lam, "AsyncEventsDropped", *fn], [lam, "DestinationDeliveryFailures", *fn]],
        ),
        widget(
            "On-failure queue depth",
            [["AWS/SQS", "ApproximateNumberOfMessagesVisible", *queue]],
            stat="Maximum",
        ),
        widget(
            "Objects processed, skipped, failed, deleted",
            [
                [custom, "ObjectsProcessed", *fn],
                [custom, "ObjectsSkipped", *fn],
                [custom, "ObjectsFailed", *fn],
                [custom, "ObjectsDeleted", *fn],
            ],
        ),
        widget(
            "Renditions written and deleted",
            [[custom, "RenditionsWritten", *fn], [custom, "RenditionsDeleted", *fn]],
        ),
        widget("Application events not delivered (--event-bus)", [[custom, "EventsFailed", *fn]]),
        widget(
            "Processing time per object p50 / p99 (ms)",
            [
                [custom, "ProcessingTime", *fn, {"stat": "p50"}],
                [custom, "ProcessingTime", *fn, {"stat": "p99"}],
            ],
        ),
        widget(
            "Input megapixels per object (average, maximum)",
            [
                [custom, "InputMegapixels", *fn, {"stat": "Average"}],
                [custom, "InputMegapixels", *fn, {"stat": "Maximum"}],
            ],
        ),
        widget("Bytes in and out", [[custom, "InputBytes", *fn], [custom, "OutputBytes", *fn]]),
    ]
    for i, w in enumerate(widgets):
        w["x"], w["y"] = (i % 2) * 12, (i // 2) * 6
    return json.dumps({"widgets": widgets})
