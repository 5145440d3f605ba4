"""AWS calls made through boto3 and printed as the AWS CLI call that does the same.

As in scripts/deploy.sh: a call that changes something is shown and, unless --dry-run,
made; a call that only reads is shown and made even with --dry-run, to plan, except
when AWS cannot be reached at all (no credentials or network): then the dry run goes
on with <placeholders>, and a real run stops.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import sys
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

CLI_NAMES = {"s3": "s3api"}
PROBE = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 1})


class Offline(Exception):
    """A read-only call in a dry run with no AWS access: the plan uses a placeholder."""


class Calls:
    """Makes, shows, and in a dry run holds back the calls of one backfill."""

    def __init__(self, region: str | None, dry_run: bool, out: TextIO = sys.stderr) -> None:
        self.session = boto3.session.Session(region_name=region)
        self.dry_run = dry_run
        self.offline = False
        self.out = out
        self._clients: dict[str, Any] = {}

    @property
    def region(self) -> str | None:
        return self.session.region_name

    def reach(self) -> str | None:
        """The account id, or None when AWS cannot be reached (the reason is raised in a
        real run; a dry run notes it and goes on offline)."""
        self.show("sts", "GetCallerIdentity", {})
        try:
            sts = self.session.client("sts", config=PROBE)
            return str(sts.get_caller_identity()["Account"])
        except (BotoCoreError, ClientError) as error:
            if not self.dry_run:
                raise
            self.offline = True
            print(
                f"backfill: note: AWS cannot be reached ({error}); the plan below is a "
                "first run, with <placeholders> for what only AWS knows",
                file=self.out,
            )
            return None

    def client(self, service: str) -> Any:
        """One client per service; S3 Control's adapted to a local endpoint (see below)."""
        if service not in self._clients:
            client = self.session.client(service)  # type: ignore[call-overload]
            if service == "s3control":
                _local_endpoint(client)
            self._clients[service] = client
        return self._clients[service]

    def read(self, service: str, operation: str, **params: Any) -> Any:
        """A call that only reads: shown and made (offline: raises Offline)."""
        self.show(service, operation, params)
        if self.offline:
            raise Offline(operation)
        return getattr(self.client(service), xform_name(operation))(**params)

    def change(
        self, service: str, operation: str, shown: dict[str, str] | None = None, **params: Any
    ) -> Any:
        """A call that changes something: shown, and made unless --dry-run (then None)."""
        self.show(service, operation, {**params, **(shown or {})})
        if self.dry_run:
            return None
        return getattr(self.client(service), xform_name(operation))(**params)

    def show(self, service: str, operation: str, params: dict[str, Any]) -> None:
        """`+ aws SERVICE OPERATION --param value ...`, each word as a shell would need it."""
        words = ["aws", CLI_NAMES.get(service, service), xform_name(operation, "-")]
        for name, value in params.items():
            option = "--" + xform_name(name, "-")
            if isinstance(value, bool):
                words.append(option if value else "--no-" + option[2:])
                continue
            if isinstance(value, dict | list):
                value = json.dumps(value, separators=(",", ":"))
            words += [option, str(value)]
        print("+ " + " ".join(shlex.quote(w) for w in words), file=self.out, flush=True)


def _local_endpoint(client: Any) -> None:
    """Let S3 Control reach an endpoint given by IP address or as localhost.

    S3 Control's endpoint rules put the account id in front of the host
    (123456789012.s3-control.us-east-1.amazonaws.com), also of a custom endpoint:
    123456789012.127.0.0.1 resolves nowhere. For such local endpoints only (tests, a
    local stack), the request goes to the host as given. AWS's own hosts are untouched.
    """

    def to_given_host(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        account, _, host = parts.netloc.partition(".")
        if account.isdigit() and _is_local(host.rpartition(":")[0] or host):
            request.url = urlunsplit(parts._replace(netloc=host))

    client.meta.events.register("before-send.s3-control", to_given_host)


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
