#!/usr/bin/env bash
# Deploy image-resizer to AWS Lambda, or remove it (--destroy). Safe to run again.
# Run with --help for the options; --dry-run prints every call and changes nothing.
set -euo pipefail
shopt -s inherit_errexit  # a failed read inside $(...) stops the script too

usage() {
  cat <<'EOF'
Usage: scripts/deploy.sh --bucket NAME [options]
       scripts/deploy.sh --bucket NAME --destroy [options]

Builds the image, pushes it to ECR, creates or updates the function, its role, its
log group and its failure queue, a CloudWatch dashboard and alarms, and wires the
bucket's ObjectCreated and ObjectRemoved notification (merged into the bucket's
existing notifications), so that copies are made for uploads and deleted with them.
Every step is safe to run again.

Options (each also settable by the environment variable shown):
  --bucket NAME               source bucket (required)                    DEPLOY_BUCKET
  --function-name NAME        function, role, repository and queue name   DEPLOY_FUNCTION_NAME
                              (default image-resizer)
  --region REGION             default: the AWS configuration's region     DEPLOY_REGION
  --arch arm64|x86_64         default arm64                               DEPLOY_ARCH
  --source-prefix PREFIX      default images/                             DEPLOY_SOURCE_PREFIX
  --output-prefix PREFIX      default copy/                               DEPLOY_OUTPUT_PREFIX
  --output-bucket NAME        default: the source bucket                  DEPLOY_OUTPUT_BUCKET
  --widths LIST               RESIZE_WIDTHS, default 300,600,900          DEPLOY_WIDTHS
  --memory MB                 default 1769 (one full vCPU)                DEPLOY_MEMORY
  --timeout SECONDS           default 60                                  DEPLOY_TIMEOUT
  --reserved-concurrency N    default: none (unreserved)                  DEPLOY_RESERVED_CONCURRENCY
  --tag TAG                   image tag, default: the git commit          DEPLOY_TAG
  --log-retention DAYS        log group retention, default 30             DEPLOY_LOG_RETENTION
  --metrics-namespace NS      METRICS_NAMESPACE, default ImageResizer     DEPLOY_METRICS_NAMESPACE
  --alarm-email ADDRESS       subscribe ADDRESS to the alarms' SNS topic  DEPLOY_ALARM_EMAIL
                              (default: alarms without notifications)
  --event-bus NAME|ARN        EVENT_BUS_NAME: one EventBridge event per   DEPLOY_EVENT_BUS
                              object for applications; the role may put
                              events on that bus only (default: none)
  --heic                      build the HEIC variant, which decodes iPhone DEPLOY_HEIC=on
                              photos with pillow-heif: its wheels bundle
                              x265 (GPL-2.0) and HEVC has patent licensing
                              (README, HEIC photos). Default: without
  --dry-run                   print every AWS and docker call; change nothing.
                              Read-only calls still run, to plan create vs update;
                              with no AWS access (no CLI, credentials or network)
                              the plan is a first deploy, with <placeholders>
  --destroy                   remove what this script created, and nothing else
  -h, --help                  this text

Needs: aws (CLI v1 or v2), docker with buildx, python3, git (for the default tag).
EOF
}

die() { echo "deploy.sh: $*" >&2; exit 2; }

bucket="${DEPLOY_BUCKET:-}"
function_name="${DEPLOY_FUNCTION_NAME:-image-resizer}"
region="${DEPLOY_REGION:-}"
arch="${DEPLOY_ARCH:-arm64}"
source_prefix="${DEPLOY_SOURCE_PREFIX-images/}"
output_prefix="${DEPLOY_OUTPUT_PREFIX-copy/}"
output_bucket="${DEPLOY_OUTPUT_BUCKET:-}"
widths="${DEPLOY_WIDTHS:-300,600,900}"
memory="${DEPLOY_MEMORY:-1769}"
timeout="${DEPLOY_TIMEOUT:-60}"
reserved="${DEPLOY_RESERVED_CONCURRENCY:-}"
tag="${DEPLOY_TAG:-}"
log_retention="${DEPLOY_LOG_RETENTION:-30}"
namespace="${DEPLOY_METRICS_NAMESPACE:-ImageResizer}"
alarm_email="${DEPLOY_ALARM_EMAIL:-}"
event_bus="${DEPLOY_EVENT_BUS:-}"
heic="${DEPLOY_HEIC:-off}"
dry_run=0
destroy=0

while [ $# -gt 0 ]; do
  case "$1" in
    --bucket) bucket="${2-}"; shift 2 ;;
    --function-name) function_name="${2-}"; shift 2 ;;
    --region) region="${2-}"; shift 2 ;;
    --arch) arch="${2-}"; shift 2 ;;
    --source-prefix) source_prefix="${2-}"; shift 2 ;;
    --output-prefix) output_prefix="${2-}"; shift 2 ;;
    --output-bucket) output_bucket="${2-}"; shift 2 ;;
    --widths) widths="${2-}"; shift 2 ;;
    --memory) memory="${2-}"; shift 2 ;;
    --timeout) timeout="${2-}"; shift 2 ;;
    --reserved-concurrency) reserved="${2-}"; shift 2 ;;
    --tag) tag="${2-}"; shift 2 ;;
    --log-retention) log_retention="${2-}"; shift 2 ;;
    --metrics-namespace) namespace="${2-}"; shift 2 ;;
    --alarm-email) alarm_email="${2-}"; shift 2 ;;
    --event-bus) event_bus="${2-}"; shift 2 ;;
    --heic) heic=on; shift ;;
    --dry-run) dry_run=1; shift ;;
    --destroy) destroy=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

# --- 1. inputs, then tools: nothing is touched before all of them pass ---------------

[ -n "$bucket" ] || die "--bucket is required: the S3 bucket whose uploads are resized"
[[ "$bucket" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] \
  || die "invalid --bucket '$bucket': expected an S3 bucket name (3-63 of a-z 0-9 . -)"
output_bucket="${output_bucket:-$bucket}"
[[ "$output_bucket" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] \
  || die "invalid --output-bucket '$output_bucket': expected an S3 bucket name"
[[ "$function_name" =~ ^[A-Za-z0-9_-]{1,56}$ ]] \
  || die "invalid --function-name '$function_name': expected 1-56 of A-Z a-z 0-9 _ -"
case "$arch" in
  arm64) platform=linux/arm64 ;;
  x86_64) platform=linux/amd64 ;;
  *) die "invalid --arch '$arch': expected arm64 or x86_64" ;;
esac
[ -n "$source_prefix" ] || die "invalid --source-prefix '': an empty source prefix makes \
every upload, the function's own copies included, trigger the function again: an \
infinite loop billed per invocation. Use a prefix such as images/"
[ -n "$output_prefix" ] || die "invalid --output-prefix '': expected a prefix such as copy/"
for option in source-prefix output-prefix; do
  prefix="$source_prefix"
  [ "$option" = source-prefix ] || prefix="$output_prefix"
  # A prefix ends up in the role's policy (arn:aws:s3:::BUCKET/PREFIX*), where IAM reads
  # '*' and '?' as wildcards: --output-prefix '*' would let the role overwrite the originals.
  [[ "$prefix" != *[*?]* ]] || die "invalid --$option '$prefix': '*' and '?' are wildcards \
in the role's IAM policy, so its S3 permissions would reach other keys (the originals \
included); use a prefix without them"
  [[ "$prefix" != *[[:cntrl:]]* ]] \
    || die "invalid --$option $(printf '%q' "$prefix"): expected no control characters"
  [[ "$prefix" =~ ^[A-Za-z0-9/!_.\'()\ -]+$ ]] \
    || die "invalid --$option '$prefix': expected letters, digits, spaces and / ! _ . ' ( ) -"
done
if [ "$output_bucket" = "$bucket" ] && { [[ "$output_prefix" == "$source_prefix"* ]] \
    || [[ "$source_prefix" == "$output_prefix"* ]]; }; then
  die "invalid prefixes: --source-prefix '$source_prefix' and --output-prefix \
'$output_prefix' overlap in bucket '$bucket', so every copy would trigger the function \
again: an infinite loop billed per invocation. Use prefixes that do not start with each \
other, or --output-bucket"
fi
[[ "$widths" =~ ^[0-9]+(x[0-9]+)?(,[0-9]+(x[0-9]+)?)*$ ]] \
  || die "invalid --widths '$widths': expected comma-separated widths or WxH boxes, e.g. 300,600,900"
[[ "$memory" =~ ^[0-9]+$ ]] && [ "$memory" -ge 128 ] && [ "$memory" -le 10240 ] \
  || die "invalid --memory '$memory': expected megabytes from 128 to 10240"
[[ "$timeout" =~ ^[0-9]+$ ]] && [ "$timeout" -ge 1 ] && [ "$timeout" -le 900 ] \
  || die "invalid --timeout '$timeout': expected seconds from 1 to 900"
[ -z "$reserved" ] || [[ "$reserved" =~ ^[0-9]+$ ]] \
  || die "invalid --reserved-concurrency '$reserved': expected a whole number"
# The retention periods CloudWatch Logs accepts.
retentions=" 1 3 5 7 14 30 60 90 120 150 180 365 400 545 731 1096 1827 2192 2557 2922 3288 3653 "
[[ "$retentions" == *" $log_retention "* ]] \
  || die "invalid --log-retention '$log_retention': expected one of CloudWatch's periods in days:$retentions"
[[ "$namespace" =~ ^[A-Za-z0-9.:#/_\ -]{1,255}$ ]] && [[ "$namespace" != AWS/* ]] \
  || die "invalid --metrics-namespace '$namespace': expected 1-255 letters, digits, spaces or . - _ / # : (not starting with AWS/)"
[ "$heic" = on ] || [ "$heic" = off ] \
  || die "invalid DEPLOY_HEIC '$heic': expected on or off"
[ -z "$alarm_email" ] || [[ "$alarm_email" =~ ^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$ ]] \
  || die "invalid --alarm-email '$alarm_email': expected an e-mail address"
bus_name='[A-Za-z0-9./_-]{1,256}'
[ -z "$event_bus" ] || [[ "$event_bus" =~ ^($bus_name|arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/$bus_name)$ ]] \
  || die "invalid --event-bus '$event_bus': expected an EventBridge event bus name (letters, digits and . - _ /) or its ARN"

# A real run stops at the first thing missing; --dry-run notes it and goes on.
lacking() {
  if [ "$dry_run" = 1 ]; then
    echo "deploy.sh: note: $* (a real run stops here)" >&2
  else
    die "$*"
  fi
}
command -v python3 >/dev/null || die "'python3' is not on PATH; install it first"
command -v aws >/dev/null || lacking "'aws' is not on PATH; install the AWS CLI first"
if [ "$destroy" = 0 ]; then
  if ! command -v docker >/dev/null; then
    lacking "'docker' is not on PATH; install Docker first"
  elif ! docker buildx version >/dev/null 2>&1; then
    lacking "'docker buildx' is not available; install the buildx plugin"
  fi
  if [ -z "$tag" ]; then
    tag="$(git -C "$(dirname "$0")/.." rev-parse --short=12 HEAD 2>/dev/null)" \
      || { lacking "no --tag given and no git commit to tag the image with"; tag="<tag>"; }
  fi
  [[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || [ "$tag" = "<tag>" ] \
    || die "invalid --tag '$tag'"
fi
if [ -z "$region" ]; then
  region="$(aws configure get region 2>/dev/null || true)"
  region="${region:-${AWS_REGION:-${AWS_DEFAULT_REGION:-}}}"
  [ -n "$region" ] || { lacking "no region: pass --region or configure one (aws configure)"
    region="<region>"; }
fi
export AWS_DEFAULT_REGION="$region" AWS_REGION="$region" AWS_PAGER=""

# --dry-run with no AWS access plans a first deploy (or a whole --destroy): calls that
# only read are shown and taken as "not there" (for --destroy: as there).
offline=0
if [ "$dry_run" = 1 ] && ! account="$(AWS_MAX_ATTEMPTS=1 aws sts get-caller-identity \
    --query Account --output text --cli-connect-timeout 5 --cli-read-timeout 10 2>/dev/null)"; then
  offline=1
  account="<account-id>"
  echo "deploy.sh: note: AWS cannot be reached (no CLI, credentials or network); the plan \
below is a first deploy$([ "$destroy" = 1 ] && echo " (for --destroy: of everything)"), \
with <placeholders> for what only AWS knows" >&2
fi

# --- helpers ---------------------------------------------------------------------------

say() { printf '\n== %s\n' "$*"; }
# Each word as a shell would need it to be typed: plain, or in single quotes.
show() {
  local shown=("$@") word line="+"
  [ "$1" != aws_sqs ] || shown=(aws sqs "${@:2}")
  for word in "${shown[@]}"; do
    if [[ "$word" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
      line+=" $word"
    else
      line+=" '${word//\'/\'\\\'\'}'"
    fi
  done
  printf '%s\n' "$line" >&2
}
# A call that changes something: shown, and run unless --dry-run.
run() { show "$@"; [ "$dry_run" = 1 ] || "$@"; }
# A call that only reads: shown and run, even with --dry-run (offline: shown, "not there").
read_only() { show "$@"; [ "$offline" = 0 ] || return 1; "$@"; }
json() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"; }

repository="$function_name"
role="$function_name-role"
queue="$function_name-failures"
notification_id="$function_name-object-created"
log_group="/aws/lambda/$function_name"
topic="$function_name-alarms"
alarms=("$function_name-errors" "$function_name-throttles" "$function_name-objects-failed"
  "$function_name-failure-queue")
statement_id="s3-invoke-${bucket//./-}"

[ "$offline" = 1 ] || account="$(read_only aws sts get-caller-identity --query Account --output text)"
read_only aws s3api head-bucket --bucket "$bucket" >/dev/null 2>&1 || [ "$offline" = 1 ] \
  || die "bucket '$bucket' does not exist or this account cannot reach it (region $region)"
role_arn="arn:aws:iam::$account:role/$role"
bus_arn=""
if [ -n "$event_bus" ]; then
  bus_arn="$event_bus"
  [[ "$event_bus" == arn:* ]] || bus_arn="arn:aws:events:$region:$account:event-bus/$event_bus"
fi
queue_arn="arn:aws:sqs:$region:$account:$queue"
function_arn="arn:aws:lambda:$region:$account:function:$function_name"

# Merge (or, with "remove", take out) this function's notification in the bucket's
# configuration, keeping every other notification exactly as it was.
merged_notifications() {
  local current
  current="$(read_only aws s3api get-bucket-notification-configuration --bucket "$bucket" \
    --output json)" || [ "$offline" = 1 ]
  python3 - "$1" "$notification_id" "$function_arn" "$source_prefix" "$current" "$bucket" <<'PY'
import json, sys
mode, ident, arn, prefix, current, bucket = sys.argv[1:]
config = json.loads(current or "{}")
config.pop("ResponseMetadata", None)
mine = [c for c in config.get("LambdaFunctionConfigurations", []) if c.get("Id") != ident]
others = mine + config.get("QueueConfigurations", []) + config.get("TopicConfigurations", [])

# S3 refuses two notifications whose event types and key filters can match the same
# object (overlapping prefixes, overlapping suffixes): say which one is in the way.
def same_events(a, b):
    return a == b or (a.endswith(":*") and b.startswith(a[:-1])) or (
        b.endswith(":*") and a.startswith(b[:-1]))
def key_rules(c):
    rules = c.get("Filter", {}).get("Key", {}).get("FilterRules", [])
    found = {r["Name"].lower(): r["Value"] for r in rules}
    return found.get("prefix", ""), found.get("suffix", "")
def in_the_way(event):
    for c in others:
        other, _ = key_rules(c)  # ours has no suffix: any suffix overlaps it
        if (other.startswith(prefix) or prefix.startswith(other)) and any(
                same_events(event, e) for e in c.get("Events", [])):
            return c.get("Id") or "an unnamed notification"
    return None

if mode == "add":
    events = []
    for event in ("s3:ObjectCreated:*", "s3:ObjectRemoved:*"):
        other = in_the_way(event)
        if other and event.startswith("s3:ObjectCreated"):
            sys.exit(f"deploy.sh: s3://{bucket} already sends {event} events for keys under "
                     f"'{prefix}' to '{other}', and S3 allows one notification per event type "
                     "and key: remove it, or send both through an SNS topic or EventBridge")
        if other:
            print(f"deploy.sh: warning: s3://{bucket} already sends {event} events for keys "
                  f"under '{prefix}' to '{other}', and S3 allows one notification per event "
                  "type and key, so deletes are not wired: copies will stay when their upload "
                  "is deleted. To have both, send the bucket's events through an SNS topic or "
                  "EventBridge", file=sys.stderr)
            continue
        events.append(event)
    mine.append({"Id": ident, "LambdaFunctionArn": arn, "Events": events,
                 "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}})
config["LambdaFunctionConfigurations"] = mine
print(json.dumps({k: v for k, v in config.items() if v}))
PY
}

# Whether a resource is there (offline --dry-run: not for a deploy, yes for --destroy).
exists() {
  if [ "$offline" = 1 ]; then
    show "$@"
    [ "$destroy" = 1 ]
  else
    "$@" >/dev/null 2>&1
  fi
}

# AWS CLI v1 ignores AWS_ENDPOINT_URL[_SQS] for SQS (it pins SQS's legacy host names),
# so SQS calls pass the endpoint explicitly when one is set (local AWS APIs).
sqs_endpoint="${AWS_ENDPOINT_URL_SQS:-${AWS_ENDPOINT_URL:-}}"
aws_sqs() { aws ${sqs_endpoint:+--endpoint-url "$sqs_endpoint"} sqs "$@"; }

# --- --destroy -------------------------------------------------------------------------

if [ "$destroy" = 1 ]; then
  say "Removing $function_name's notification from s3://$bucket (others stay)"
  notifications="$(merged_notifications remove)"
  run aws s3api put-bucket-notification-configuration --bucket "$bucket" \
    --notification-configuration "$notifications"
  if exists aws lambda get-function --function-name "$function_name"; then
    say "Deleting function $function_name"
    run aws lambda delete-function --function-name "$function_name"
  fi
  if [ "$offline" = 1 ]; then
    show aws sqs get-queue-url --queue-name "$queue" --query QueueUrl --output text
    queue_url="<queue-url>"
  else
    queue_url="$(aws_sqs get-queue-url --queue-name "$queue" --query QueueUrl \
      --output text 2>/dev/null)" || queue_url=""
  fi
  if [ -n "$queue_url" ]; then
    say "Deleting failure queue $queue"
    run aws_sqs delete-queue --queue-url "$queue_url"
  fi
  if exists aws iam get-role --role-name "$role"; then
    say "Deleting role $role"
    # Either may be missing after a deploy that stopped half-way: that is not an error.
    run aws iam delete-role-policy --role-name "$role" --policy-name s3-and-failures || true
    run aws iam detach-role-policy --role-name "$role" \
      --policy-arn arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole || true
    run aws iam delete-role --role-name "$role"
  fi
  if exists aws ecr describe-repositories --repository-names "$repository"; then
    say "Deleting repository $repository and its images"
    run aws ecr delete-repository --repository-name "$repository" --force
  fi
  say "Deleting dashboard, alarms and alarm topic of $function_name"
  run aws cloudwatch delete-alarms --alarm-names "${alarms[@]}"
  if exists aws cloudwatch get-dashboard --dashboard-name "$function_name"; then
    run aws cloudwatch delete-dashboards --dashboard-names "$function_name"
  fi
  topic_arn="arn:aws:sns:$region:$account:$topic"
  if exists aws sns get-topic-attributes --topic-arn "$topic_arn"; then
    run aws sns delete-topic --topic-arn "$topic_arn"
  fi
  [ "$dry_run" = 1 ] && done_word="Dry run: nothing was removed. Left" || done_word="Removed. Left"
  say "$done_word untouched: the bucket and its objects (uploads and copies), and the
log group $log_group with the function's logs (aws logs delete-log-group to remove it)."
  exit 0
fi

# --- 2. image: repository, login, build, push ------------------------------------------

say "Image repository $repository"
if ! repository_uri="$(read_only aws ecr describe-repositories \
    --repository-names "$repository" --query 'repositories[0].repositoryUri' \
    --output text 2>/dev/null)"; then
  repository_uri="$(run aws ecr create-repository --repository-name "$repository" \
    --image-scanning-configuration scanOnPush=true --query repository.repositoryUri \
    --output text)"
  repository_uri="${repository_uri:-<repository-uri>}"  # --dry-run created nothing
fi
image="$repository_uri:$tag"
registry="${repository_uri%%/*}"

say "Building $image for $platform$([ "$heic" = off ] || echo ', HEIC variant')"
echo "+ aws ecr get-login-password | docker login --username AWS --password-stdin $registry" >&2
if [ "$dry_run" = 0 ]; then
  aws ecr get-login-password | docker login --username AWS --password-stdin "$registry"
fi
# --provenance=false: Lambda rejects the manifest list that an attestation would add.
run docker buildx build --platform "$platform" --provenance=false --load \
  --build-arg "HEIC=$heic" -t "$image" "$(dirname "$0")/.."
run docker push "$image"

# --- 3. execution role: trust, logging, least privilege on S3 --------------------------

say "Execution role $role"
trust='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
if exists aws iam get-role --role-name "$role"; then
  run aws iam update-assume-role-policy --role-name "$role" --policy-document "$trust"
else
  run aws iam create-role --role-name "$role" --assume-role-policy-document "$trust" \
    --description "image-resizer function $function_name" >/dev/null
fi
run aws iam attach-role-policy --role-name "$role" \
  --policy-arn arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole
policy="$(python3 "$(dirname "$0")/role_policy.py" "$bucket" "$source_prefix" \
  "$output_bucket" "$output_prefix" "$queue_arn" ${bus_arn:+"$bus_arn"})"
run aws iam put-role-policy --role-name "$role" --policy-name s3-and-failures \
  --policy-document "$policy"

# --- 4. log group (made before the function, so it never starts without retention) ----

say "Log group $log_group ($log_retention days' retention)"
if ! read_only aws logs describe-log-groups --log-group-name-prefix "$log_group" \
    --query 'logGroups[].logGroupName' --output text | tr '\t' '\n' | grep -qx "$log_group"; then
  run aws logs create-log-group --log-group-name "$log_group"
fi
run aws logs put-retention-policy --log-group-name "$log_group" \
  --retention-in-days "$log_retention"

# --- 5. function -----------------------------------------------------------------------

say "Function $function_name"
environment="$(python3 - "$widths" "$source_prefix" "$output_prefix" "$output_bucket" \
  "$bucket" "$namespace" "$event_bus" <<'PY'
import json, sys
widths, source, out, out_bucket, bucket, namespace, bus = sys.argv[1:]
variables = {"RESIZE_WIDTHS": widths, "SOURCE_PREFIX": source, "OUTPUT_PREFIX": out}
if bus:
    variables["EVENT_BUS_NAME"] = bus
if namespace != "ImageResizer":
    variables["METRICS_NAMESPACE"] = namespace
if out_bucket != bucket:
    variables["OUTPUT_BUCKET"] = out_bucket
print(json.dumps({"Variables": variables}))
PY
)"
if exists aws lambda get-function --function-name "$function_name"; then
  run aws lambda update-function-code --function-name "$function_name" \
    --image-uri "$image" --architectures "$arch" >/dev/null
  run aws lambda wait function-updated --function-name "$function_name"
  run aws lambda update-function-configuration --function-name "$function_name" \
    --role "$role_arn" --memory-size "$memory" --timeout "$timeout" \
    --environment "$environment" >/dev/null
else
  create=(aws lambda create-function --function-name "$function_name" --package-type Image
    --code "ImageUri=$image" --role "$role_arn" --architectures "$arch"
    --memory-size "$memory" --timeout "$timeout" --environment "$environment")
  show "${create[@]}"
  # A new role takes a few seconds to be assumable by Lambda: retry only that error.
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    [ "$dry_run" = 0 ] || break
    if output="$("${create[@]}" 2>&1)"; then
      break
    fi
    if [[ "$output" != *"cannot be assumed"* ]] || [ "$attempt" = 10 ]; then
      echo "$output" >&2
      exit 1
    fi
    sleep 5
  done
fi
run aws lambda wait function-updated --function-name "$function_name"
if [ -n "$reserved" ]; then
  run aws lambda put-function-concurrency --function-name "$function_name" \
    --reserved-concurrent-executions "$reserved" >/dev/null
fi

# --- 6. failures: bounded retries, then the on-failure queue ---------------------------

say "Failure queue $queue (14 days' retention)"
run aws_sqs create-queue --queue-name "$queue" \
  --attributes MessageRetentionPeriod=1209600 >/dev/null
run aws lambda put-function-event-invoke-config --function-name "$function_name" \
  --maximum-retry-attempts 2 --maximum-event-age-in-seconds 21600 \
  --destination-config "{\"OnFailure\":{\"Destination\":$(json "$queue_arn")}}" >/dev/null

# --- 7. monitoring: a dashboard, and alarms (to an SNS topic with --alarm-email) -------

say "Dashboard and alarms for $function_name"
alarm_actions=()
if [ -n "$alarm_email" ]; then
  topic_arn="$(run aws sns create-topic --name "$topic" --query TopicArn --output text)"
  topic_arn="${topic_arn:-arn:aws:sns:$region:$account:$topic}"
  if ! read_only aws sns list-subscriptions-by-topic --topic-arn "$topic_arn" \
      --query 'Subscriptions[].Endpoint' --output text 2>/dev/null | tr '\t' '\n' \
      | grep -qxF "$alarm_email"; then
    run aws sns subscribe --topic-arn "$topic_arn" --protocol email \
      --notification-endpoint "$alarm_email" >/dev/null
  fi
  alarm_actions=(--alarm-actions "$topic_arn" --ok-actions "$topic_arn")
fi
dashboard="$(python3 - "$function_name" "$queue" "$namespace" "$region" <<'PY'
import json, sys
function, queue, namespace, region = sys.argv[1:]
fn = ["FunctionName", function]
def widget(title, metrics, stat="Sum"):
    props = {"title": title, "region": region, "view": "timeSeries", "stat": stat,
             "period": 300, "metrics": metrics}
    return {"type": "metric", "width": 12, "height": 6, "properties": props}
lam, custom = "AWS/Lambda", namespace
widgets = [
    widget("Invocations", [[lam, "Invocations", *fn]]),
    widget("Duration p50 / p99 (ms)", [[lam, "Duration", *fn, {"stat": "p50"}],
                                       [lam, "Duration", *fn, {"stat": "p99"}]]),
    widget("Errors and throttles", [[lam, "Errors", *fn], [lam, "Throttles", *fn]]),
    widget("Concurrent executions", [[lam, "ConcurrentExecutions", *fn]], stat="Maximum"),
    widget("Async events dropped, destination delivery failures",
           [[lam, "AsyncEventsDropped", *fn], [lam, "DestinationDeliveryFailures", *fn]]),
    widget("On-failure queue depth", [["AWS/SQS", "ApproximateNumberOfMessagesVisible",
                                       "QueueName", queue]], stat="Maximum"),
    widget("Objects processed, skipped, failed, deleted", [[custom, "ObjectsProcessed", *fn],
           [custom, "ObjectsSkipped", *fn], [custom, "ObjectsFailed", *fn],
           [custom, "ObjectsDeleted", *fn]]),
    widget("Renditions written and deleted", [[custom, "RenditionsWritten", *fn],
           [custom, "RenditionsDeleted", *fn]]),
    widget("Application events not delivered (--event-bus)", [[custom, "EventsFailed", *fn]]),
    widget("Processing time per object p50 / p99 (ms)",
           [[custom, "ProcessingTime", *fn, {"stat": "p50"}],
            [custom, "ProcessingTime", *fn, {"stat": "p99"}]]),
    widget("Input megapixels per object (average, maximum)",
           [[custom, "InputMegapixels", *fn, {"stat": "Average"}],
            [custom, "InputMegapixels", *fn, {"stat": "Maximum"}]]),
    widget("Bytes in and out", [[custom, "InputBytes", *fn], [custom, "OutputBytes", *fn]]),
]
for i, w in enumerate(widgets):
    w["x"], w["y"] = (i % 2) * 12, (i // 2) * 6
print(json.dumps({"widgets": widgets}))
PY
)"
run aws cloudwatch put-dashboard --dashboard-name "$function_name" \
  --dashboard-body "$dashboard" >/dev/null
# Any error, throttle or failed object within five minutes; any message left in the queue.
alarm() {
  local name="$1" namespace="$2" metric="$3" dimension="$4" stat="$5" description="$6"
  run aws cloudwatch put-metric-alarm --alarm-name "$name" \
    --alarm-description "$description" --namespace "$namespace" --metric-name "$metric" \
    --dimensions "$dimension" --statistic "$stat" --period 300 --evaluation-periods 1 \
    --threshold 0 --comparison-operator GreaterThanThreshold \
    --treat-missing-data notBreaching ${alarm_actions[@]+"${alarm_actions[@]}"}
}
alarm "${alarms[0]}" AWS/Lambda Errors "Name=FunctionName,Value=$function_name" Sum \
  "$function_name raised errors (a retry follows; then the failure queue)"
alarm "${alarms[1]}" AWS/Lambda Throttles "Name=FunctionName,Value=$function_name" Sum \
  "$function_name was throttled (concurrency limit reached)"
alarm "${alarms[2]}" "$namespace" ObjectsFailed "Name=FunctionName,Value=$function_name" Sum \
  "$function_name could not resize some objects (see its logs for the reasons)"
alarm "${alarms[3]}" AWS/SQS ApproximateNumberOfMessagesVisible "Name=QueueName,Value=$queue" \
  Maximum "events that $function_name gave up on wait in $queue"

# --- 8. trigger: S3 may invoke, and notifies on ObjectCreated and ObjectRemoved under the
# source prefix (ObjectRemoved: unless another notification of the bucket has it already)

say "Trigger: s3://$bucket/$source_prefix* -> $function_name"
if ! read_only aws lambda get-policy --function-name "$function_name" --query Policy \
    --output text 2>/dev/null | grep -q "\"Sid\": *\"$statement_id\""; then
  run aws lambda add-permission --function-name "$function_name" \
    --statement-id "$statement_id" --action lambda:InvokeFunction \
    --principal s3.amazonaws.com --source-arn "arn:aws:s3:::$bucket" \
    --source-account "$account" >/dev/null
fi
notifications="$(merged_notifications add)"
run aws s3api put-bucket-notification-configuration --bucket "$bucket" \
  --notification-configuration "$notifications"

# --- 9. what was deployed, and how to try it -------------------------------------------

if [ "$dry_run" = 1 ]; then
  echo
  echo "Dry run: nothing was changed. Without --dry-run, the calls above deploy:"
else
  echo
  echo "Deployed:"
fi
cat <<EOF
$function_name ($arch, ${memory} MB, ${timeout} s) from $image
  uploads  s3://$bucket/$source_prefix*
  copies   s3://$output_bucket/$output_prefix*  (widths $widths; deleted with their upload)
  failures $queue (after 2 retries)${event_bus:+
  events   one per object on the event bus $event_bus (source image-resizer)}

Try it:
  aws s3 cp photo.jpg "s3://$bucket/${source_prefix}photo.jpg"
  aws s3 ls "s3://$output_bucket/$output_prefix"
Logs:    aws logs tail "$log_group" --follow   (kept $log_retention days)
Metrics: CloudWatch > Dashboards > $function_name; namespace $namespace
Alarms:  ${alarms[*]}${alarm_email:+ -> $alarm_email (confirm the e-mail from AWS)}
Failed:  aws sqs receive-message --queue-url "\$(aws sqs get-queue-url --queue-name $queue --query QueueUrl --output text)"
EOF
