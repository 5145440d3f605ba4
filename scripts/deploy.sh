#!/usr/bin/env bash
# Deploy image-resizer to AWS Lambda as one CloudFormation stack, or remove it (--destroy).
# Run with --help for the options; --dry-run shows what would change and changes nothing.
set -euo pipefail
shopt -s inherit_errexit  # a failed read inside $(...) stops the script too

usage() {
  cat <<'EOF'
Usage: scripts/deploy.sh --bucket NAME [options]
       scripts/deploy.sh --bucket NAME --destroy [options]

Checks the configuration (renditions.toml, or --config FILE, plus the overrides below)
with the function's own validator, builds the image with that file in it and pushes it to
ECR, then creates or updates one CloudFormation stack: the function, its role, log group,
failure queue, alarms (and their SNS topic), dashboard and S3's permission to invoke it.
Last, it merges the bucket's ObjectCreated (and, where free, ObjectRemoved) notification
into the bucket's existing ones. Safe to run again: an unchanged deploy changes nothing.

Options (each also settable by the environment variable shown):
  --bucket NAME               source bucket (required)                    DEPLOY_BUCKET
  --config FILE               the configuration file, default             DEPLOY_CONFIG
                              renditions.toml beside this repository's app/
  --function-name NAME        function, stack, role, repository and queue DEPLOY_FUNCTION_NAME
                              name (default image-resizer)
  --region REGION             default: the AWS configuration's region     DEPLOY_REGION
  --arch arm64|x86_64         default arm64                               DEPLOY_ARCH
  --memory MB                 default 1769 (one full vCPU)                DEPLOY_MEMORY
  --timeout SECONDS           default 60                                  DEPLOY_TIMEOUT
  --reserved-concurrency N    default: none (unreserved)                  DEPLOY_RESERVED_CONCURRENCY
  --tag TAG                   image tag, default: the git commit and a    DEPLOY_TAG
                              hash of what the image is built from
  --log-retention DAYS        log group retention, default 30             DEPLOY_LOG_RETENTION
  --alarm-email ADDRESS       subscribe ADDRESS to the alarms' SNS topic  DEPLOY_ALARM_EMAIL
                              (default: alarms without notifications)
  --heic                      build the HEIC variant, which decodes iPhone DEPLOY_HEIC=on
                              photos with pillow-heif: its wheels bundle
                              x265 (GPL-2.0) and HEVC has patent licensing
                              (docs/deploy.md, HEIC photos). Default: without
  --dry-run                   build nothing, change nothing: show the change set
                              against the deployed stack (the whole template when
                              there is none)
  --destroy                   delete the stack, the image repository and this
                              function's notification (the bucket's others stay)
  -h, --help                  this text

Overrides of the file's [defaults], deployed as the function's environment variables
(a redeploy without them returns to the file's values):
  --source-prefix PREFIX      SOURCE_PREFIX                               DEPLOY_SOURCE_PREFIX
  --output-prefix PREFIX      OUTPUT_PREFIX                               DEPLOY_OUTPUT_PREFIX
  --output-bucket NAME        OUTPUT_BUCKET                               DEPLOY_OUTPUT_BUCKET
  --widths LIST               RESIZE_WIDTHS                               DEPLOY_WIDTHS
  --metrics-namespace NS      METRICS_NAMESPACE                           DEPLOY_METRICS_NAMESPACE
  --event-bus NAME|ARN        EVENT_BUS_NAME: one EventBridge event per   DEPLOY_EVENT_BUS
                              object; the bus must exist
SOURCE_BUCKETS is always set to --bucket, the one bucket this deploy wires.

Needs: aws (CLI v1 or v2), docker with buildx, git (for the default tag), and the
project's .venv (scripts/setup.sh makes it): the function's own code checks the
configuration and writes the template.
EOF
}

die() { echo "deploy.sh: $*" >&2; exit 2; }

root="$(cd "$(dirname "$0")/.." && pwd)"
bucket="${DEPLOY_BUCKET:-}"
config_file="${DEPLOY_CONFIG:-${RENDITIONS_CONFIG:-}}"
function_name="${DEPLOY_FUNCTION_NAME:-image-resizer}"
region="${DEPLOY_REGION:-}"
arch="${DEPLOY_ARCH:-arm64}"
memory="${DEPLOY_MEMORY:-1769}"
timeout="${DEPLOY_TIMEOUT:-60}"
reserved="${DEPLOY_RESERVED_CONCURRENCY:-}"
tag="${DEPLOY_TAG:-}"
log_retention="${DEPLOY_LOG_RETENTION:-30}"
alarm_email="${DEPLOY_ALARM_EMAIL:-}"
heic="${DEPLOY_HEIC:-off}"
dry_run=0
destroy=0
# Overrides: VARIABLE=value, set only when given (an unset one leaves the file's value).
overrides=()
[ -z "${DEPLOY_SOURCE_PREFIX+set}" ] || overrides+=("SOURCE_PREFIX=$DEPLOY_SOURCE_PREFIX")
[ -z "${DEPLOY_OUTPUT_PREFIX+set}" ] || overrides+=("OUTPUT_PREFIX=$DEPLOY_OUTPUT_PREFIX")
[ -z "${DEPLOY_OUTPUT_BUCKET:-}" ] || overrides+=("OUTPUT_BUCKET=$DEPLOY_OUTPUT_BUCKET")
[ -z "${DEPLOY_WIDTHS+set}" ] || overrides+=("RESIZE_WIDTHS=$DEPLOY_WIDTHS")
[ -z "${DEPLOY_METRICS_NAMESPACE+set}" ] \
  || overrides+=("METRICS_NAMESPACE=$DEPLOY_METRICS_NAMESPACE")
[ -z "${DEPLOY_EVENT_BUS:-}" ] || overrides+=("EVENT_BUS_NAME=$DEPLOY_EVENT_BUS")

while [ $# -gt 0 ]; do
  case "$1" in
    --bucket) bucket="${2-}"; shift 2 ;;
    --config) config_file="${2-}"; shift 2 ;;
    --function-name) function_name="${2-}"; shift 2 ;;
    --region) region="${2-}"; shift 2 ;;
    --arch) arch="${2-}"; shift 2 ;;
    --source-prefix) overrides+=("SOURCE_PREFIX=${2-}"); shift 2 ;;
    --output-prefix) overrides+=("OUTPUT_PREFIX=${2-}"); shift 2 ;;
    --output-bucket) overrides+=("OUTPUT_BUCKET=${2-}"); shift 2 ;;
    --widths) overrides+=("RESIZE_WIDTHS=${2-}"); shift 2 ;;
    --metrics-namespace) overrides+=("METRICS_NAMESPACE=${2-}"); shift 2 ;;
    --event-bus) overrides+=("EVENT_BUS_NAME=${2-}"); shift 2 ;;
    --memory) memory="${2-}"; shift 2 ;;
    --timeout) timeout="${2-}"; shift 2 ;;
    --reserved-concurrency) reserved="${2-}"; shift 2 ;;
    --tag) tag="${2-}"; shift 2 ;;
    --log-retention) log_retention="${2-}"; shift 2 ;;
    --alarm-email) alarm_email="${2-}"; shift 2 ;;
    --heic) heic=on; shift ;;
    --dry-run) dry_run=1; shift ;;
    --destroy) destroy=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

# --- 1. inputs: the deploy's own, then the configuration; nothing is touched before -----

[ -n "$bucket" ] || die "--bucket is required: the S3 bucket whose uploads are resized"
[[ "$bucket" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] \
  || die "invalid --bucket '$bucket': expected an S3 bucket name (3-63 of a-z 0-9 . -)"
# The stack is named after the function, and stack names start with a letter and hold no '_'.
[[ "$function_name" =~ ^[A-Za-z][A-Za-z0-9-]{0,55}$ ]] \
  || die "invalid --function-name '$function_name': expected a letter, then up to 55 of \
A-Z a-z 0-9 - (it also names the CloudFormation stack)"
stack="$function_name"
case "$arch" in
  arm64) platform=linux/arm64 ;;
  x86_64) platform=linux/amd64 ;;
  *) die "invalid --arch '$arch': expected arm64 or x86_64" ;;
esac
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
[ "$heic" = on ] || [ "$heic" = off ] \
  || die "invalid DEPLOY_HEIC '$heic': expected on or off"
[ -z "$alarm_email" ] || [[ "$alarm_email" =~ ^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$ ]] \
  || die "invalid --alarm-email '$alarm_email': expected an e-mail address"
[ -z "$tag" ] || [[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "invalid --tag '$tag'"

python="$root/.venv/bin/python"
[ -x "$python" ] || die "$python is missing: run scripts/setup.sh first (the function's own \
code checks the configuration and writes the template)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The configuration as the function would load it: the file and the overrides, nothing
# else from this shell (a stray RESIZE_WIDTHS here must not pass for the deployed one).
if [ -n "$config_file" ]; then
  [ -f "$config_file" ] || die "--config '$config_file' is not a file"
  config_file="$(cd "$(dirname "$config_file")" && pwd)/$(basename "$config_file")"
elif [ -f "$root/renditions.toml" ]; then
  config_file="$root/renditions.toml"  # where the function finds it beside app/
fi
# The bytes checked are the bytes built into the image: a copy, taken once.
context="$work/context"
mkdir -p "$context/requirements"
if [ -n "$config_file" ]; then
  cp "$config_file" "$context/renditions.toml"
else
  : >"$context/renditions.toml"  # no file: no settings, every default
fi
overrides+=("SOURCE_BUCKETS=$bucket")
check=("$python" -m app check --json --config "$context/renditions.toml")
if ! (cd "$root" && env -i PATH="$PATH" HOME="${HOME:-/}" ${overrides[@]+"${overrides[@]}"} \
    "${check[@]}") >"$work/check.json" 2>"$work/check.err"; then
  # The message names the file as the user did, not as the copy checked.
  while IFS= read -r line; do
    echo "deploy.sh: ${line//"$context/renditions.toml"/${config_file:-renditions.toml}}" >&2
  done <"$work/check.err"
  exit 2
fi
field() { "$python" -c 'import json, sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]
print(v if isinstance(v, str) else "" if v is None else "\n".join(v))' "$work/check.json" "$1"; }
checked_file="$config_file"
source_prefix="$(field source_prefix)"
output_bucket="$(field output_bucket)"
output_bucket="${output_bucket:-$bucket}"
mapfile -t prefixes < <(field output_prefixes)  # one a line: a prefix may hold a comma
event_bus="$(field event_bus)"
# The validator checks the prefixes against each other; only the deploy knows that an
# OUTPUT_BUCKET may be the very bucket it wires.
if [ "$output_bucket" = "$bucket" ]; then
  for prefix in "${prefixes[@]}"; do
    if [[ "$prefix" == "$source_prefix"* ]] || [[ "$source_prefix" == "$prefix"* ]]; then
      die "invalid prefixes: the source prefix '$source_prefix' and the output prefix \
'$prefix' overlap in bucket '$bucket', so every copy would trigger the function again: an \
infinite loop billed per invocation. Use prefixes that do not start with each other, or \
--output-bucket"
    fi
  done
fi

# The image is built from a copy of what the build reads, beside that file.
cp "$root/Dockerfile" "$root/.dockerignore" "$context/"
cp -R "$root/app" "$context/app"
rm -rf "$context/app/__pycache__" "$context"/app/*/__pycache__
cp "$root"/requirements/{build,runtime,heic}.txt "$context/requirements/"
sha256="$("$python" -c 'import hashlib, sys
print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$context/renditions.toml")"
# The function's environment: the overrides, and the file's hash, so that reading the
# function back proves which file it runs.
environment=("${overrides[@]}" "RENDITIONS_SHA256=$sha256")
if [ -z "$tag" ]; then
  commit="$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo build)"
  # What the image is built from: a changed file or code gives a new tag, so the stack
  # changes; the same inputs give the same tag, so a second deploy changes nothing.
  built_from="$("$python" - "$context" "heic=$heic platform=$platform" <<'PY'
import hashlib, pathlib, sys
digest = hashlib.sha256(sys.argv[2].encode())
for path in sorted(p for p in pathlib.Path(sys.argv[1]).rglob("*") if p.is_file()):
    digest.update(f"{path.relative_to(sys.argv[1])}\0".encode() + path.read_bytes())
print(digest.hexdigest()[:8])
PY
)"
  tag="$commit-$built_from"
fi

# --- 2. tools and AWS ------------------------------------------------------------------

# A real run stops, naming everything missing at once; --dry-run notes it and goes on.
lacking() {
  if [ "$dry_run" = 1 ]; then
    echo "deploy.sh: note: $* (a real run stops here)" >&2
  else
    die "$*"
  fi
}
missing=()
command -v aws >/dev/null || missing+=("'aws' is not on PATH: install the AWS CLI")
if [ "$destroy" = 0 ]; then
  if ! command -v docker >/dev/null; then
    missing+=("'docker' is not on PATH: install Docker")
  elif ! docker buildx version >/dev/null 2>&1; then
    missing+=("'docker buildx' is not available: install the buildx plugin")
  fi
fi
if [ -z "$region" ]; then
  region="$( { command -v aws >/dev/null && aws configure get region; } 2>/dev/null || true)"
  region="${region:-${AWS_REGION:-${AWS_DEFAULT_REGION:-}}}"
  [ -n "$region" ] || missing+=("no region: pass --region or configure one (aws configure)")
fi
if [ "${#missing[@]}" -gt 0 ]; then
  joined="$(printf '%s; ' "${missing[@]}")"
  lacking "${joined%; }"
  region="${region:-<region>}"
fi
export AWS_DEFAULT_REGION="$region" AWS_REGION="$region" AWS_PAGER=""

# --dry-run with no AWS access shows the whole template: nothing is deployed, as far as
# it can tell.
offline=0
if ! account="$(AWS_MAX_ATTEMPTS=1 aws sts get-caller-identity --query Account --output text \
    --cli-connect-timeout 5 --cli-read-timeout 10 2>/dev/null)"; then
  [ "$dry_run" = 1 ] || die "AWS cannot be reached in $region (no credentials or network)"
  offline=1
  account="<account-id>"
  echo "deploy.sh: note: AWS cannot be reached (no CLI, credentials or network); below is \
the whole template, as for a first deploy" >&2
fi

say() { printf '\n== %s\n' "$*" >&2; }
# Each word as a shell would need it to be typed: plain, or in single quotes.
show() {
  local word line="+"
  for word in "$@"; do
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
cfn() { aws cloudformation "$@"; }

function_arn="arn:aws:lambda:$region:$account:function:$function_name"
notification_id="$function_name-object-created"
stack_status=""
if [ "$offline" = 0 ]; then
  aws s3api head-bucket --bucket "$bucket" >/dev/null 2>&1 \
    || die "bucket '$bucket' does not exist or this account cannot reach it (region $region)"
  stack_status="$(cfn describe-stacks --stack-name "$stack" --query 'Stacks[0].StackStatus' \
    --output text 2>/dev/null)" || stack_status=""
  if [ -n "$event_bus" ] && [ "$destroy" = 0 ] \
      && ! aws events describe-event-bus --name "$event_bus" >/dev/null 2>&1; then
    die "event bus '$event_bus' (EVENT_BUS_NAME, or --event-bus) does not exist in $region \
or this account cannot read it: create it (aws events create-event-bus --name NAME) or \
leave the setting empty for no application events"
  fi
  if [ -z "$stack_status" ] && [ "$destroy" = 0 ] \
      && aws lambda get-function --function-name "$function_name" >/dev/null 2>&1; then
    die "function '$function_name' exists but no stack '$stack' holds it: it was deployed \
by hand or by an older deploy.sh, whose --destroy removes it (or choose another \
--function-name)"
  fi
fi

# Merge (or, with "remove", take out) this function's notification in the bucket's
# configuration, keeping every other notification exactly as it was.
merged_notifications() {
  local current="{}"
  if [ "$offline" = 0 ]; then
    current="$(aws s3api get-bucket-notification-configuration --bucket "$bucket" \
      --output json)"
  fi
  "$python" - "$1" "$notification_id" "$function_arn" "$source_prefix" "$current" "$bucket" \
    <<'PY'
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

# --- --destroy -------------------------------------------------------------------------

if [ "$destroy" = 1 ]; then
  say "Removing $function_name's notification from s3://$bucket (others stay)"
  notifications="$(merged_notifications remove)"
  run aws s3api put-bucket-notification-configuration --bucket "$bucket" \
    --notification-configuration "$notifications"
  if [ -n "$stack_status" ] || [ "$offline" = 1 ]; then
    say "Deleting stack $stack: the function, its role, queue, logs, alarms and dashboard"
    run aws cloudformation delete-stack --stack-name "$stack"
    run aws cloudformation wait stack-delete-complete --stack-name "$stack"
  fi
  if [ "$offline" = 1 ] || aws ecr describe-repositories --repository-names "$function_name" \
      >/dev/null 2>&1; then
    say "Deleting image repository $function_name and its images"
    run aws ecr delete-repository --repository-name "$function_name" --force >/dev/null
  fi
  [ "$dry_run" = 1 ] && done_word="Dry run: nothing was removed. Left" || done_word="Removed. Left"
  printf '\n%s untouched: the bucket and its objects (uploads and copies).\n' "$done_word"
  exit 0
fi

# --- 3. what the bucket's notification will be (a refusal here changes nothing yet) ----

notifications="$(merged_notifications add)"
deletes_wired="$("$python" -c 'import json, sys
mine = [c for c in json.loads(sys.argv[1]).get("LambdaFunctionConfigurations", [])
        if c.get("Id") == sys.argv[2]]
print(int(any("s3:ObjectRemoved:*" in c["Events"] for c in mine)))' \
  "$notifications" "$notification_id")"

# --- 4. image: repository, login, build, push ------------------------------------------

say "Image repository $function_name"
if [ "$offline" = 0 ] && repository_uri="$(aws ecr describe-repositories \
    --repository-names "$function_name" --query 'repositories[0].repositoryUri' \
    --output text 2>/dev/null)"; then
  :
else
  repository_uri="$(run aws ecr create-repository --repository-name "$function_name" \
    --image-scanning-configuration scanOnPush=true --query repository.repositoryUri \
    --output text)"
  # --dry-run created nothing: the address the repository will have.
  repository_uri="${repository_uri:-$account.dkr.ecr.$region.amazonaws.com/$function_name}"
fi
image="$repository_uri:$tag"
registry="${repository_uri%%/*}"

say "Building $image for $platform$([ "$heic" = off ] || echo ', HEIC variant'), with \
${checked_file:-no configuration file} (sha256 ${sha256:0:12})"
echo "+ aws ecr get-login-password | docker login --username AWS --password-stdin $registry" >&2
if [ "$dry_run" = 0 ]; then
  aws ecr get-login-password | docker login --username AWS --password-stdin "$registry"
fi
# --provenance=false: Lambda rejects the manifest list that an attestation would add.
run docker buildx build --platform "$platform" --provenance=false --load \
  --build-arg "HEIC=$heic" -t "$image" "$context"
run docker push "$image"

# --- 5. the stack: a change set, shown, then executed ----------------------------------

template=(--check "$work/check.json" --function-name "$function_name" --bucket "$bucket"
  --image "$image" --region "$region" --arch "$arch" --memory "$memory" --timeout "$timeout"
  --log-retention "$log_retention")
[ -z "$reserved" ] || template+=(--reserved-concurrency "$reserved")
[ -z "$alarm_email" ] || template+=(--alarm-email "$alarm_email")
for variable in "${environment[@]}"; do template+=(--env "$variable"); done
(cd "$root" && "$python" -m tools.deploy template "${template[@]}") >"$work/template.json"

if [ "$offline" = 1 ] || { [ "$dry_run" = 1 ] && [ -z "$stack_status" ]; }; then
  say "Stack $stack: nothing deployed yet; the whole template"
  cat "$work/template.json"
  say "Bucket notification: s3://$bucket/$source_prefix* -> $function_name"
  show aws s3api put-bucket-notification-configuration --bucket "$bucket" \
    --notification-configuration "$notifications"
  printf '\nDry run: nothing was changed. Without --dry-run, deploy.sh creates the stack above.\n'
  exit 0
fi
case "$stack_status" in
  "") change_type=CREATE ;;
  ROLLBACK_COMPLETE) die "stack '$stack' failed to be created (ROLLBACK_COMPLETE): delete \
it with --destroy, then deploy again" ;;
  *_COMPLETE) change_type=UPDATE ;;
  REVIEW_IN_PROGRESS) change_type=CREATE ;;  # a first deploy stopped before executing
  *) die "stack '$stack' is $stack_status: wait until it is complete (aws cloudformation \
describe-stack-events --stack-name $stack), or, if it failed to be created, delete it with \
--destroy" ;;
esac
change_set="deploy-$(date -u +%Y%m%dT%H%M%SZ)-$$"
say "Stack $stack: change set $change_set ($change_type)"
show aws cloudformation create-change-set --stack-name "$stack" --change-set-name "$change_set" \
  --change-set-type "$change_type" --capabilities CAPABILITY_NAMED_IAM \
  --template-body "file://<the template>"
# A change set is a plan, not a change: --dry-run makes one to show it, then deletes it.
cfn create-change-set --stack-name "$stack" --change-set-name "$change_set" \
  --change-set-type "$change_type" --capabilities CAPABILITY_NAMED_IAM \
  --template-body "file://$work/template.json" >/dev/null
cfn wait change-set-create-complete --stack-name "$stack" --change-set-name "$change_set" \
  2>/dev/null || true
described="$(cfn describe-change-set --stack-name "$stack" --change-set-name "$change_set" \
  --output json)"
read -r status reason < <("$python" -c 'import json, sys
d = json.loads(sys.argv[1])
print(d.get("Status") or "", (d.get("StatusReason") or "").replace("\n", " "))' "$described")
changed=1
if [ "$status" != CREATE_COMPLETE ]; then
  if [[ "$reason" == *"didn't contain changes"* ]] || [[ "$reason" == *"No updates are to be performed"* ]]; then
    changed=0
  else
    cfn delete-change-set --stack-name "$stack" --change-set-name "$change_set" || true
    die "the change set for stack '$stack' failed: $reason"
  fi
fi
if [ "$changed" = 0 ]; then
  echo "No changes: the stack already holds this image, configuration and options." >&2
else
  "$python" - "$described" >&2 <<'PY'
import json, sys
for change in json.loads(sys.argv[1]).get("Changes", []):
    r = change.get("ResourceChange", {})
    replaced = " (replaced)" if r.get("Replacement") == "True" else ""
    print(f"  {r.get('Action', '?'):<7} {r.get('LogicalResourceId')} ({r.get('ResourceType')})"
          + replaced)
PY
fi
if [ "$dry_run" = 1 ] || [ "$changed" = 0 ]; then
  cfn delete-change-set --stack-name "$stack" --change-set-name "$change_set"
fi
if [ "$dry_run" = 1 ]; then
  say "Bucket notification: s3://$bucket/$source_prefix* -> $function_name"
  show aws s3api put-bucket-notification-configuration --bucket "$bucket" \
    --notification-configuration "$notifications"
  printf '\nDry run: nothing was changed. Without --dry-run, deploy.sh executes the change set above.\n'
  exit 0
fi
if [ "$changed" = 1 ]; then
  run aws cloudformation execute-change-set --stack-name "$stack" --change-set-name "$change_set"
  waited="stack-update-complete"
  [ "$change_type" = UPDATE ] || waited="stack-create-complete"
  show aws cloudformation wait "$waited" --stack-name "$stack"
  if ! cfn wait "$waited" --stack-name "$stack"; then
    # shellcheck disable=SC2016  # a JMESPath literal, not a shell expansion
    cfn describe-stack-events --stack-name "$stack" --max-items 20 \
      --query 'StackEvents[?ends_with(ResourceStatus, `FAILED`)].[LogicalResourceId,ResourceStatusReason]' \
      --output text >&2 || true
    if [ "$change_type" = UPDATE ]; then
      echo "deploy.sh: the update of stack '$stack' failed (reasons above); CloudFormation \
rolled it back, and the previous version still runs" >&2
    else
      echo "deploy.sh: stack '$stack' could not be created (reasons above); remove what is \
left with --destroy before deploying again" >&2
    fi
    exit 1
  fi
fi

# --- 6. trigger: the bucket's notification, merged into its others ---------------------

say "Bucket notification: s3://$bucket/$source_prefix* -> $function_name"
run aws s3api put-bucket-notification-configuration --bucket "$bucket" \
  --notification-configuration "$notifications"

# --- 7. what was deployed, and how to try it -------------------------------------------

if [ "$deletes_wired" = 1 ]; then
  deletes="deleted with their upload"
else
  deletes="NOT deleted with their upload: deletes are not wired (warning above)"
fi
cat <<EOF

Deployed:
$function_name ($arch, ${memory} MB, ${timeout} s) from $image
  configuration ${checked_file:-no file: the defaults} (sha256 ${sha256:0:12})
  uploads  s3://$bucket/$source_prefix*
  copies   s3://$output_bucket/ under $(printf "'%s' " "${prefixes[@]}")($deletes)
  failures $function_name-failures (after 2 retries)${event_bus:+
  events   one per object on the event bus $event_bus (source image-resizer)}

Try it:
  aws s3 cp photo.jpg "s3://$bucket/${source_prefix}photo.jpg"
  aws s3 ls "s3://$output_bucket/${prefixes[0]}"
Logs:    aws logs tail "/aws/lambda/$function_name" --follow   (kept $log_retention days)
Metrics: CloudWatch > Dashboards > $function_name
Alarms:  $function_name-errors, -throttles, -objects-failed, -failure-queue${alarm_email:+ -> $alarm_email (confirm the e-mail from AWS)}
Stack:   aws cloudformation describe-stack-events --stack-name $stack
EOF
