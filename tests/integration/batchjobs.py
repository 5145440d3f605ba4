"""A stand-in for S3 Batch Operations' job API (CreateJob, DescribeJob), which moto lacks.

It speaks S3 Control's REST-XML on loopback, so botocore's real serializer and parser
carry the backfill's requests, and runs each job as AWS documents it: the manifest read
from S3 (its ETag checked), one schema 2.0 event per line given to the function,
TemporaryFailure tried again, ProgressSummary counts as it goes, and a completion report
of the failed tasks (Report_CSV_20180820: a manifest.json naming the result CSVs) written
under the report prefix. Every CreateJob request is kept, parsed, for the tests to read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3

from devtools.s3server import free_port
from tools.backfill import tasks

NS = "http://awss3control.amazonaws.com/doc/2018-08-20/"
Invoke = Callable[[dict[str, Any]], Any]


def _to_dict(element: ET.Element) -> Any:
    children = list(element)
    if not children:
        return element.text or ""
    tags = [re.sub(r"^\{.*\}", "", c.tag) for c in children]
    if tags and all(t == "member" for t in tags):
        return [_to_dict(c) for c in children]
    return {t: _to_dict(c) for t, c in zip(tags, children, strict=True)}


class Jobs:
    """The jobs created so far and the requests that created them."""

    def __init__(self, s3_endpoint: str, invoke: Invoke, task_delay: float) -> None:
        self.s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
        self.invoke = invoke
        self.task_delay = task_delay
        self.requests: list[dict[str, Any]] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def create(self, request: dict[str, Any]) -> str:
        job_id = str(uuid.uuid4())
        with self.lock:
            self.requests.append(request)
            self.jobs[job_id] = {
                "Status": "New",
                "Total": 0,
                "Succeeded": 0,
                "Failed": 0,
                "Reasons": [],
            }
        threading.Thread(target=self._run, args=(job_id, request), daemon=True).start()
        return job_id

    def _set(self, job_id: str, **changes: Any) -> None:
        with self.lock:
            self.jobs[job_id].update(changes)

    def _run(self, job_id: str, request: dict[str, Any]) -> None:
        self._set(job_id, Status="Preparing")
        location = request["Manifest"]["Location"]
        bucket, _, key = location["ObjectArn"].removeprefix("arn:aws:s3:::").partition("/")
        got = self.s3.get_object(Bucket=bucket, Key=key)
        if got["ETag"].strip('"') != location["ETag"].strip('"'):
            self._set(job_id, Status="Failed", Reasons=[("ManifestETagMismatch", "ETag differs")])
            return
        lines = got["Body"].read().decode().splitlines()
        self._set(job_id, Status="Active", Total=len(lines))
        failures = []
        function = request["Operation"]["LambdaInvoke"]
        for line in lines:
            task_bucket, task_key = next(csv.reader([line]))[:2]
            event = tasks.event(job_id, task_bucket, "")
            event["invocationSchemaVersion"] = function["InvocationSchemaVersion"]
            event["tasks"][0]["s3Key"] = task_key  # as the manifest has it: URL-encoded
            for _attempt in range(2):
                [result] = self.invoke(event)["results"]
                if result["resultCode"] != "TemporaryFailure":
                    break
            time.sleep(self.task_delay)
            with self.lock:
                job = self.jobs[job_id]
                if result["resultCode"] == "Succeeded":
                    job["Succeeded"] += 1
                else:
                    job["Failed"] += 1
                    failures.append(
                        [
                            task_bucket,
                            task_key,
                            "",
                            "failed",
                            result["resultCode"],
                            "200",
                            result["resultString"],
                        ]
                    )
        self._report(job_id, request["Report"], failures)
        self._set(job_id, Status="Complete")

    def _report(self, job_id: str, report: dict[str, Any], failures: list[list[str]]) -> None:
        bucket = report["Bucket"].removeprefix("arn:aws:s3:::")
        base = f"{report['Prefix']}/job-{job_id}"
        results = []
        if failures:
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(failures)
            body = out.getvalue().encode()
            key = f"{base}/results/{hashlib.sha1(body).hexdigest()}.csv"
            self.s3.put_object(Bucket=bucket, Key=key, Body=body)
            results.append(
                {
                    "TaskExecutionStatus": "failed",
                    "Bucket": bucket,
                    "MD5Checksum": hashlib.md5(body).hexdigest(),
                    "Key": key,
                }
            )
        index = {
            "Format": "Report_CSV_20180820",
            "ReportCreationDate": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "Results": results,
            "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, "
            "ResultMessage",
        }
        self.s3.put_object(
            Bucket=bucket, Key=f"{base}/manifest.json", Body=json.dumps(index).encode()
        )

    def describe(self, job_id: str) -> str:
        with self.lock:
            job = dict(self.jobs[job_id])
        reasons = "".join(
            f"<JobFailure><FailureCode>{c}</FailureCode><FailureReason>{r}</FailureReason>"
            "</JobFailure>"
            for c, r in job["Reasons"]
        )
        return (
            f'<DescribeJobResult xmlns="{NS}"><Job><JobId>{job_id}</JobId>'
            f"<Status>{job['Status']}</Status><ProgressSummary>"
            f"<TotalNumberOfTasks>{job['Total']}</TotalNumberOfTasks>"
            f"<NumberOfTasksSucceeded>{job['Succeeded']}</NumberOfTasksSucceeded>"
            f"<NumberOfTasksFailed>{job['Failed']}</NumberOfTasksFailed>"
            f"</ProgressSummary><FailureReasons>{reasons}</FailureReasons></Job>"
            "</DescribeJobResult>"
        )


@contextmanager
def batch_jobs(s3_endpoint: str, invoke: Invoke, task_delay: float = 0.0) -> Iterator[Any]:
    """Serve the job API on 127.0.0.1; yield (endpoint URL, Jobs)."""
    jobs = Jobs(s3_endpoint, invoke, task_delay)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = _to_dict(ET.fromstring(self.rfile.read(length)))
            request["AccountId"] = self.headers.get("x-amz-account-id")
            if self.path.split("?")[0] != "/v20180820/jobs":
                self._reply(404, "<Error><Code>NotFound</Code></Error>")
                return
            job_id = jobs.create(request)
            self._reply(
                200, f'<CreateJobResult xmlns="{NS}"><JobId>{job_id}</JobId></CreateJobResult>'
            )

        def do_GET(self) -> None:
            job_id = self.path.split("?")[0].rpartition("/")[2]
            if job_id not in jobs.jobs:
                self._reply(
                    404, "<Error><Code>NoSuchJob</Code><Message>no such job</Message></Error>"
                )
                return
            self._reply(200, jobs.describe(job_id))

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", jobs
    finally:
        server.shutdown()
        server.server_close()
