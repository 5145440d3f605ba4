"""The image's build replayed without Docker, as far as this machine allows.

A container engine is not always at hand (none runs in this project's CI), so this
does what `docker build` would do with the Dockerfile's own lines, read by
`devtools.dockerfile`, never a copy of them kept here:

1. **resolve**: every `pip install` of its `RUN` lines, with the same options, turned
   into a `pip download --no-deps` for CPython `PYTHON_VERSION` on manylinux x86_64 and
   aarch64 (glibc 2.34, Amazon Linux 2023): a package with no installable distribution
   for a platform fails there, as the build would;
2. **build**: a scratch root stands in for the image's file system; the base image is a
   fresh virtual environment of that CPython (its own pip, nothing else) plus the
   runtime client it ships (`awslambdaric`, from `requirements/base-image.txt`); the
   `COPY` lines copy what `.dockerignore` lets in, and the `RUN` lines run in bash with
   the image's variables, and their literal absolute paths, pointing into the scratch root;
3. **run**: `python -m awslambdaric CMD` from the task root, with nothing else on its
   path, through the Runtime API emulator (`replay.emulator()`); the command runs
   `events/s3-put.json` through it against a local S3 server (`run_sample`).

Build arguments replay a variant (`python -m devtools.replay --build-arg HEIC=on`): they
override the ARG defaults wherever the lines use them, and of a RUN line's
`if [ A = B ]; then ...; fi` only the branch taken is resolved.

What it cannot prove: the base image itself (its glibc, its Python build, its
entrypoint) and the RIE binary; `tests/container/` builds the real image where an
engine answers. Run it alone with `python -m devtools.replay`.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote_plus

from devtools import dockerfile
from devtools.dockerfile import Dockerfile
from devtools.emulator import Emulator

# What the AWS Lambda base image sets for every function (its documentation's
# "defined runtime environment variables").
BASE_IMAGE_ENV = {
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
}
BASE_IMAGE_LOCK = dockerfile.ROOT / "requirements" / "base-image.txt"

# Amazon Linux 2023 has glibc 2.34: wheels for manylinux_2_17 (2014) up to 2_34 install.
GLIBC_MINOR = range(17, 35)
ARCHES = ("x86_64", "aarch64")

# pip options of a RUN line and what a download for another platform does with them.
_KEEP_WITH_VALUE = ("--only-binary", "--no-binary", "-r", "--requirement", "-c", "--constraint")
_KEEP = ("--require-hashes", "--pre", "--no-deps")
_DROP_WITH_VALUE = ("--target", "-t")
_DROP = ("--no-cache-dir", "--no-build-isolation", "-q", "--quiet", "--no-compile")
# A literal absolute path in a RUN line: the image's file system, so the scratch root.
_ABSOLUTE = re.compile(r"""(^|[\s=:'"])(/[A-Za-z][^\s'":;&|]*)""")


class ReplayError(Exception):
    """A build step failed; the message names the step and what it printed."""


def find_python(version: str) -> Path | None:
    """A CPython `version` (e.g. 3.12) on this machine: PATH, uv's, or pyenv's."""
    candidates = [shutil.which(f"python{version}")]
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    if Path(uv).exists():
        found = subprocess.run(
            [uv, "python", "find", "--no-python-downloads", version],
            capture_output=True,
            text=True,
            check=False,
        )
        candidates.append(found.stdout.strip() if found.returncode == 0 else None)
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted(str(p) for p in pyenv.glob(f"{version}.*/bin/python{version}"))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return Path(candidate)
    return None


def platform_tags(arch: str) -> list[str]:
    """pip `--platform` values for a manylinux `arch` on the base image's glibc."""
    return [f"manylinux_2_{minor}_{arch}" for minor in GLIBC_MINOR] + [f"manylinux2014_{arch}"]


def handler_defined(task_root: Path, cmd: list[str]) -> str | None:
    """None if CMD's `module.function` is a function defined in the task root, else why not."""
    if len(cmd) != 1 or "." not in cmd[0]:
        return f"CMD {cmd!r} does not name one handler as module.function"
    module, _, function = cmd[0].rpartition(".")
    path = task_root / Path(*module.split("."))
    source = path.with_suffix(".py") if path.with_suffix(".py").exists() else path / "__init__.py"
    if not source.exists():
        return f"CMD names {cmd[0]}, but the task root has no module {module}"
    tree = ast.parse(source.read_text())
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    if function not in names:
        return f"CMD names {cmd[0]}, but {source.relative_to(task_root)} defines no {function}()"
    return None


def tree_bytes(path: Path) -> int:
    """The size of every file below `path`."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


@dataclass
class Replay:
    """One replay of the Dockerfile's build into `scratch`."""

    image: Dockerfile
    python: Path  # the image's CPython, here
    scratch: Path
    resolved: dict[str, list[Path]] = field(default_factory=dict)  # arch -> distributions
    build_args: dict[str, str] = field(default_factory=dict)  # `docker build --build-arg`

    def __post_init__(self) -> None:
        unknown = sorted(set(self.build_args) - set(self.image.args))
        if unknown:
            raise ReplayError(
                f"--build-arg {', '.join(unknown)}: the Dockerfile declares no such ARG "
                f"(it has {', '.join(self.image.args)})"
            )

    @property
    def args(self) -> dict[str, str]:
        """The ARG values of this build: the defaults, then the build arguments."""
        return {**self.image.args, **self.build_args}

    @property
    def rootfs(self) -> Path:
        return self.scratch / "rootfs"

    @property
    def base_python(self) -> Path:
        return self.scratch / "base" / "bin" / "python"

    @property
    def task_root(self) -> Path:
        return self.host(BASE_IMAGE_ENV["LAMBDA_TASK_ROOT"])

    @property
    def runtime_dir(self) -> Path:
        return self.host(BASE_IMAGE_ENV["LAMBDA_RUNTIME_DIR"])

    def host(self, container_path: str) -> Path:
        """Where a path of the image lies in the scratch root."""
        return self.rootfs / container_path.lstrip("/")

    def variables(self) -> dict[str, str]:
        """ARG, base image and ENV values as the RUN lines see them, paths in the scratch root."""
        values = {**self.args, **BASE_IMAGE_ENV, **self.image.env}
        return {k: str(self.host(v)) if v.startswith("/") else v for k, v in values.items()}

    def shell_env(self) -> dict[str, str]:
        """The environment of a RUN line: the image's variables and the base image's pip.

        Network settings are kept (a proxy, a certificate bundle, a mirror); this
        machine's pip configuration, find-links and constraints are not, as a build in
        the base image has none of them.
        """
        kept = {
            k: v
            for k, v in os.environ.items()
            if k in ("HOME", "SSL_CERT_FILE", "SSL_CERT_DIR")
            or k.lower().endswith("_proxy")
            or k in ("PIP_CERT", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_DEFAULT_TIMEOUT")
            or k in ("PIP_TRUSTED_HOST", "PIP_RETRIES")
        }
        return {
            **kept,
            **self.variables(),
            "PATH": f"{self.base_python.parent}:/usr/local/bin:/usr/bin:/bin",
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_ROOT_USER_ACTION": "ignore",
        }

    # -- the steps --------------------------------------------------------------------

    def base(self) -> None:
        """The base image: the CPython with its pip, and the runtime client it ships."""
        _run([str(self.python), "-m", "venv", str(self.scratch / "base")], "make the base image")
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        _run(
            [
                *(str(self.base_python), "-m", "pip", "install", "--quiet", "--no-cache-dir"),
                *("--require-hashes", "--only-binary=:all:", "--target", str(self.runtime_dir)),
                *("-r", str(BASE_IMAGE_LOCK)),
            ],
            "install the base image's runtime client",
            env=self.shell_env(),
        )

    def copy(self) -> None:
        """Every COPY line, from the files `.dockerignore` lets into the build context."""
        allowed = set(dockerfile.context_files(self.image.context))
        for copy in self.image.copies:
            dest = dockerfile.substitute(copy.dest, {**self.args, **BASE_IMAGE_ENV})
            for source in copy.sources:
                path = self.image.context / source
                files = [f for f in allowed if f == path or path in f.parents]
                if not files:
                    raise ReplayError(
                        f"COPY {source}: not in the build context (missing, or left out "
                        "by .dockerignore)"
                    )
                for file in files:
                    if path.is_dir():
                        target = self.host(dest) / file.relative_to(path)
                    elif dest.endswith("/") or len(copy.sources) > 1:
                        target = self.host(dest) / file.name
                    else:
                        target = self.host(dest)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(file, target)

    def run(self) -> None:
        """Every RUN line, in bash, with the image's variables pointing into the scratch root."""
        for line in self.image.runs:
            mapped = _map_paths(line, self.host)
            _run(["bash", "-euo", "pipefail", "-c", mapped], f"RUN {line}", env=self.shell_env())

    def build(self, arches: tuple[str, ...] = ARCHES) -> None:
        """The whole build: base image and COPY, resolution for each of `arches` (before
        RUN removes its inputs), then RUN, which installs for this machine's platform."""
        self.base()
        self.copy()
        for arch in arches:
            self.resolved[arch] = self.resolve(arch, self.scratch / f"resolved-{arch}")
        self.run()

    def resolve(self, arch: str, dest: Path) -> list[Path]:
        """Download, without installing, what every `pip install` of RUN takes on `arch`."""
        version = self.args.get("PYTHON_VERSION", "")
        abi = "cp" + version.replace(".", "")
        target = [
            "--python-version",
            version,
            "--implementation",
            "cp",
            *(f"--abi={a}" for a in (abi, "abi3", "none")),
            *(f"--platform={p}" for p in platform_tags(arch)),
        ]
        for line in self.image.runs:
            for options in pip_installs(_map_paths(line, self.host), self.variables()):
                _run(
                    [
                        *(str(self.base_python), "-m", "pip", "download", "--quiet"),
                        *("--no-deps", "--dest", str(dest), *target, *options),
                    ],
                    f"resolve for CPython {version} on manylinux {arch}",
                    env=self.shell_env(),
                )
        return sorted(dest.iterdir())

    def runtime_env(self, extra: Mapping[str, str]) -> dict[str, str]:
        """The function's environment: the image's and the base image's, nothing of ours."""
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": str(self.runtime_dir),  # the runtime client, as the base image has it
            **BASE_IMAGE_ENV,
            "LAMBDA_TASK_ROOT": str(self.task_root),
            **self.image.env,
            **extra,
        }

    def emulator(self, extra_env: Mapping[str, str]) -> Emulator:
        """The Runtime API emulator running the image's CMD from the replayed task root."""
        return Emulator(
            self.image.cmd[0],
            port=0,
            env=self.runtime_env(extra_env),
            inherit_env=False,
            cwd=self.task_root,
            runtime=[str(self.base_python), "-m", "awslambdaric"],
        )


def pip_installs(line: str, variables: dict[str, str]) -> list[list[str]]:
    """The options of every `pip install` in a RUN line, as a download needs them.

    The line's variables are substituted first, so that of `if [ A = B ]; then ...;
    elif ...; else ...; fi` only the branch the build takes counts (a build argument's
    variant); a test other than `[ A = B ]` or `[ A != B ]` is refused by name.
    """
    lexer = shlex.shlex(dockerfile.substitute(line, variables), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for word in lexer:
        if word in ("&&", ";", "||"):
            commands.append([])
        else:
            commands[-1].append(word)
    result = []
    for command in _taken(commands):
        while command and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", command[0]):
            command = command[1:]  # NAME=value prefixes: the build's own environment
        if command[:2] not in (["pip", "install"], ["pip3", "install"]):
            continue
        result.append(_download_options(command[2:]))
    return result


def _taken(commands: list[list[str]]) -> list[list[str]]:
    """The commands a shell runs of `commands`, its `if` lists decided by their tests."""
    taken: list[list[str]] = []
    # One entry per open `if`: (its branches run, a branch was taken already).
    stack: list[tuple[bool, bool]] = []

    def running() -> bool:
        return all(run for run, _ in stack)

    for command in commands:
        if not command:
            continue
        word, rest = command[0], command[1:]
        if word in ("if", "elif"):
            condition = _test(rest)
            if word == "if":
                stack.append((condition, condition))
            elif not stack:
                raise ReplayError("`elif` without `if` in a RUN line")
            else:
                done = stack[-1][1]
                stack[-1] = (condition and not done, done or condition)
        elif word == "then" and rest:
            command = rest  # `then pip install ...`: the branch's first command
            if running():
                taken.append(command)
        elif word == "else":
            if not stack:
                raise ReplayError("`else` without `if` in a RUN line")
            done = stack[-1][1]
            stack[-1] = (not done, True)
            if rest and running():
                taken.append(rest)
        elif word == "fi":
            if not stack:
                raise ReplayError("`fi` without `if` in a RUN line")
            stack.pop()
        elif running():
            taken.append(command)
    if stack:
        raise ReplayError("a RUN line's `if` has no `fi`")
    return taken


def _test(words: list[str]) -> bool:
    """`[ A = B ]` or `[ A != B ]`, its variables already substituted."""
    if len(words) == 5 and words[0] == "[" and words[4] == "]" and words[2] in ("=", "!="):
        return (words[1] == words[3]) == (words[2] == "=")
    raise ReplayError(
        f"RUN line test {' '.join(words)!r}: the replay knows `[ A = B ]` and `[ A != B ]` "
        "only; teach devtools/replay.py"
    )


def _download_options(options: list[str]) -> list[str]:
    kept: list[str] = []
    words = iter(options)
    for word in words:
        name, eq, value = word.partition("=") if word.startswith("--") else (word, "", "")
        if name in _KEEP_WITH_VALUE:
            kept += [name, value if eq else next(words)]
        elif name in _DROP_WITH_VALUE:
            if not eq:
                next(words)
        elif name in _KEEP:
            kept.append(name)
        elif name not in _DROP:
            raise ReplayError(
                f"pip install option {word!r}: the replay does not know what it means for "
                "another platform; teach devtools/replay.py"
            )
    return kept


def _map_paths(line: str, host: Callable[[str], Path]) -> str:
    """A RUN line with its literal absolute paths moved into the scratch root."""
    return _ABSOLUTE.sub(lambda m: m[1] + str(host(m[2])), line)


def _run(command: list[str], step: str, env: Mapping[str, str] | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()
        raise ReplayError(f"{step} failed (exit {done.returncode}):\n" + "\n".join(output[-15:]))


@contextmanager
def replayed(
    image: Dockerfile | None = None,
    python: Path | None = None,
    build_args: Mapping[str, str] | None = None,
) -> Iterator[Replay]:
    """A built replay (with `build_args`, as `--build-arg`) in a temporary folder, removed
    afterwards."""
    image = image or dockerfile.parse()
    version = image.args.get("PYTHON_VERSION", "")
    python = python or find_python(version)
    if python is None:
        raise ReplayError(
            f"CPython {version} (the Dockerfile's PYTHON_VERSION) is not on this machine: "
            f"install it (e.g. `uv python install {version}`) to replay the image's build"
        )
    with tempfile.TemporaryDirectory(prefix="image-replay-") as scratch:
        replay = Replay(image, python, Path(scratch), build_args=dict(build_args or {}))
        replay.build()
        yield replay


def report(replay: Replay) -> list[str]:
    """What a replay shows, a line each: the distributions resolved per platform, CMD
    checked in the task root, its size, and `events/s3-put.json` run through CMD's
    runtime from the task root against a local S3 server (ReplayError if it fails)."""
    lines = [
        f"{arch}: {len(files)} distributions: " + ", ".join(f.name for f in files)
        for arch, files in replay.resolved.items()
    ]
    problem = handler_defined(replay.task_root, replay.image.cmd)
    if problem:
        raise ReplayError(problem)
    lines.append(f"CMD {replay.image.cmd}: defined in the task root")
    lines.append(f"task root: {tree_bytes(replay.task_root) / 1e6:.1f} MB")
    lines.append(run_sample(replay))
    return lines


def run_sample(replay: Replay) -> str:
    """`events/s3-put.json` through the task root's runtime, on a moto server on loopback
    holding a generated image at the key it names; one line saying what was made."""
    import boto3  # here: the rest of the replay needs no AWS SDK

    from devtools.s3server import FAKE_AWS_ENV, free_port, moto_server
    from devtools.stack import sample_image

    event = json.loads((dockerfile.ROOT / "events" / "s3-put.json").read_text())
    [record] = event["Records"]
    bucket, key = record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"])
    with moto_server(free_port()) as endpoint:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=FAKE_AWS_ENV["AWS_DEFAULT_REGION"],
            aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=key, Body=sample_image(key))
        env = {**FAKE_AWS_ENV, "AWS_ENDPOINT_URL": endpoint, "AWS_LAMBDA_FUNCTION_TIMEOUT": "60"}
        with replay.emulator(env) as emulator:
            body, failed = emulator.invoke(json.dumps(event).encode())
        reply = json.loads(body or b"{}")
        if failed or reply.get("processed") != 1:
            raise ReplayError(f"events/s3-put.json through the task root's runtime: {reply}")
        outputs = reply["results"][0]["outputs"]
        for output in outputs:  # in S3, not only in the reply
            s3.head_object(Bucket=bucket, Key=output["key"])
    made = ", ".join(f"{o['key']} ({o['width']}x{o['height']})" for o in outputs)
    return f"events/s3-put.json through {replay.image.cmd[0]} from the task root: {made}"


def main(argv: list[str] | None = None) -> int:
    """Replay the build, resolve both platforms, run the sample event, and print each."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.replay", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="as docker build's, e.g. HEIC=on for the HEIC variant",
    )
    args = parser.parse_args(argv)
    build_args = dict(arg.partition("=")[::2] for arg in args.build_arg)
    try:
        with replayed(build_args=build_args) as replay:
            for line in report(replay):
                print(line, flush=True)
    except ReplayError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
