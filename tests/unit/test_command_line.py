"""The command's arguments (app/__main__.py, read with getopt): help, usage errors, values.

In-process, `main(argv)` returns the exit status (help and usage errors included) and
prints to stdout or stderr; a few cases run the installed console script, whose exit
status is `main`'s.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import images
import pytest

import app.__main__ as command

ROOT = Path(__file__).resolve().parents[2]
COMMAND = Path(sys.executable).parent / "image-resizer"

TOP_USAGE = "usage: image-resizer [-h] {resize,check} ..."
RESIZE_USAGE = "usage: image-resizer resize [-h] --out DIR [--profile NAME] FILE [FILE ...]"
CHECK_USAGE = "usage: image-resizer check [-h] [--config FILE] [--json]"

TOP_HELP = f"""{TOP_USAGE}

Command line: `image-resizer resize FILE... --out DIR` runs the Lambda pipeline on local files.

commands:
  resize      resize local image files
  check       check the configuration as a cold start would

options:
  -h, --help  show this help message and exit

A command's usage and options: image-resizer COMMAND --help
"""
RESIZE_HELP = f"""{RESIZE_USAGE}

resize local image files

arguments:
  FILE            an image file to resize; one or more (after --, a name may start with -)

options:
  -h, --help      show this help message and exit
  --out DIR       folder for the copies (created if missing)
  --profile NAME  make this profile's copies
"""
CHECK_HELP = f"""{CHECK_USAGE}

check the configuration as a cold start would

options:
  -h, --help     show this help message and exit
  --config FILE  this file instead of renditions.toml
  --json         print the effective configuration
"""


@pytest.fixture(autouse=True)
def typed_as_image_resizer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The program's name as the console script gives it (pytest's own otherwise)."""
    monkeypatch.setattr(sys, "argv", ["/venv/bin/image-resizer"])


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = command.main(argv)
    said = capsys.readouterr()
    return status, said.out, said.err


# -- help ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--help"], TOP_HELP),
        (["-h"], TOP_HELP),
        (["--he"], TOP_HELP),  # a unique prefix, as argparse takes it
        (["resize", "--help"], RESIZE_HELP),
        (["resize", "-h"], RESIZE_HELP),
        (["check", "--help"], CHECK_HELP),
        (["check", "-h"], CHECK_HELP),
    ],
)
def test_help_prints_the_usage_and_options_and_exits_0(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(argv, capsys) == (0, expected, "")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--help", "resize"], TOP_HELP),  # before the command: the top level's
        (["-h", "--bogus"], TOP_HELP),
        (["frob", "--help"], TOP_HELP),  # an unknown command's: the one naming the commands
        (["resize", "x.jpg", "--out", "o", "--help"], RESIZE_HELP),
        (["resize", "--help", "x.jpg"], RESIZE_HELP),
        (["resize", "--bogus", "-h"], RESIZE_HELP),  # before an error getopt would raise
        (["resize", "--out", "--help"], RESIZE_HELP),  # not taken as --out's folder
        (["check", "--json=yes", "--hel"], CHECK_HELP),
        (["check", "stray", "-h"], CHECK_HELP),
    ],
)
def test_help_wins_wherever_it_comes(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(argv, capsys) == (0, expected, "")


# -- usage errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "usage", "error"),
    [
        (
            [],
            TOP_USAGE,
            "image-resizer: error: no command given; the commands are resize and check",
        ),
        (
            ["frob", "x.jpg"],
            TOP_USAGE,
            "image-resizer: error: unknown command 'frob'; the commands are resize and check",
        ),
        (["--bogus", "resize"], TOP_USAGE, "image-resizer: error: option --bogus not recognized"),
        (
            ["resize"],
            RESIZE_USAGE,
            "image-resizer resize: error: the following arguments are required: FILE, --out",
        ),
        (
            ["resize", "--out", "o"],
            RESIZE_USAGE,
            "image-resizer resize: error: the following arguments are required: FILE",
        ),
        (
            ["resize", "x.jpg", "y.jpg"],
            RESIZE_USAGE,
            "image-resizer resize: error: the following arguments are required: --out",
        ),
        (
            ["resize", "x.jpg", "--out"],
            RESIZE_USAGE,
            "image-resizer resize: error: option --out requires argument",
        ),
        (
            ["resize", "x.jpg", "--out", "o", "--prof"],
            RESIZE_USAGE,
            "image-resizer resize: error: option --profile requires argument",
        ),
        (
            ["check", "--config"],
            CHECK_USAGE,
            "image-resizer check: error: option --config requires argument",
        ),
        (
            ["resize", "x.jpg", "--out="],
            RESIZE_USAGE,
            "image-resizer resize: error: option --out requires a DIR, not ''",
        ),
        (
            ["resize", "x.jpg", "--out", "o", "--profile", ""],
            RESIZE_USAGE,
            "image-resizer resize: error: option --profile requires a NAME, not ''",
        ),
        (
            ["check", "--config="],
            CHECK_USAGE,
            "image-resizer check: error: option --config requires a FILE, not ''",
        ),
        (
            ["resize", "x.jpg", "--out", "o", "--bogus"],
            RESIZE_USAGE,
            "image-resizer resize: error: option --bogus not recognized",
        ),
        (
            ["resize", "-x", "x.jpg", "--out", "o"],
            RESIZE_USAGE,
            "image-resizer resize: error: option -x not recognized",
        ),
        (
            ["resize", "x.jpg", "--out", "o", "--json"],
            RESIZE_USAGE,
            "image-resizer resize: error: option --json not recognized (it is an option of check)",
        ),
        (
            ["check", "--out", "o"],
            CHECK_USAGE,
            "image-resizer check: error: option --out not recognized (it is an option of resize)",
        ),
        (
            ["check", "x.jpg"],
            CHECK_USAGE,
            "image-resizer check: error: unexpected argument 'x.jpg': check takes options only",
        ),
        (
            ["check", "--json", "a.toml", "b.toml"],
            CHECK_USAGE,
            "image-resizer check: error: unexpected arguments 'a.toml', 'b.toml': "
            "check takes options only",
        ),
        (
            ["check", "--json=yes"],
            CHECK_USAGE,
            "image-resizer check: error: option --json must not have an argument",
        ),
        (
            ["check", "--=x"],  # the empty name: a prefix of every option
            CHECK_USAGE,
            "image-resizer check: error: option -- not a unique prefix",
        ),
    ],
)
def test_a_usage_error_prints_the_usage_and_one_line_and_exits_2(
    argv: list[str], usage: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(argv, capsys) == (2, "", f"{usage}\n{error}\n")


def test_an_ambiguous_abbreviation_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Today's options share no prefix, so two are declared here that do: with --outline
    # and --height beside --out and --help, --ou and --h name no one option. --hel still
    # asks for help: the table drives the help's abbreviations as it drives getopt's.
    resize = {
        **command._OPTIONS["resize"],
        "--outline": ("", False, "draw outlines"),
        "--height": ("PIXELS", False, "a height"),
    }
    monkeypatch.setitem(command._OPTIONS, "resize", resize)
    usage = (
        "usage: image-resizer resize [-h] --out DIR [--profile NAME] [--outline] "
        "[--height PIXELS] FILE [FILE ...]"
    )

    for prefix in ("--ou", "--h"):
        assert _main(["resize", "x.jpg", prefix, "o"], capsys) == (
            2,
            "",
            f"{usage}\nimage-resizer resize: error: option {prefix} not a unique prefix\n",
        )
    status, out, err = _main(["resize", "x.jpg", "--hel"], capsys)
    assert (status, out.splitlines()[0], err) == (0, usage, "")
    assert "  --outline        draw outlines\n" in out


# -- values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["resize", "photo.jpg", "--out", "o"],
        ["resize", "--out=o", "photo.jpg"],  # options before the files, --name=value
        ["resize", "--o", "o", "photo.jpg", "--prof=default"],  # unique prefixes
        ["resize", "photo.jpg", "--out", "elsewhere", "--out", "o"],  # the last one counts
    ],
)
def test_resize_reads_files_and_options_in_any_order_and_spelling(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RESIZE_WIDTHS", "300")
    (tmp_path / "photo.jpg").write_bytes(images.jpeg(640, 480))

    assert _main(argv, capsys) == (
        0,
        "photo.jpg: processed -> o/photo-300.jpg (300x225); manifest o/photo.json\n",
        "",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o", "photo.jpg"]


def test_a_file_named_like_an_option_comes_after_a_double_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RESIZE_WIDTHS", "300")
    for name in ("--out.jpg", "-h.jpg"):
        (tmp_path / name).write_bytes(images.jpeg(320, 240))

    status, out, err = _main(["resize", "--out", "o", "--", "--out.jpg", "-h.jpg"], capsys)

    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "--out.jpg: processed -> o/--out-300.jpg (300x225); manifest o/--out.json",
        "-h.jpg: processed -> o/-h-300.jpg (300x225); manifest o/-h.json",
    ]


def test_check_reads_its_config_as_a_path_and_json_as_a_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r.toml").write_text("# nothing declared: the environment's settings\n")

    status, out, err = _main(["check", "--js", f"--conf={tmp_path / 'r.toml'}"], capsys)

    assert (status, err) == (0, "")
    assert out.startswith("{") and f'"config_file": "{tmp_path / "r.toml"}"' in out
    status, out, err = _main(["check", "--config", str(tmp_path / "r.toml")], capsys)
    assert (status, err, out.splitlines()[0]) == (0, "", f"configuration: {tmp_path / 'r.toml'}")


# -- the installed command ----------------------------------------------------------------


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*argv], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_console_script_exits_with_mains_status() -> None:
    assert COMMAND.is_file(), f"{COMMAND} is missing: scripts/setup.sh installs it"

    helped = _run(str(COMMAND), "resize", "--help")
    wrong = _run(str(COMMAND), "check", "--json=yes")
    bare = _run(str(COMMAND))

    assert (helped.returncode, helped.stdout, helped.stderr) == (0, RESIZE_HELP, "")
    assert (wrong.returncode, wrong.stdout, wrong.stderr) == (
        2,
        "",
        f"{CHECK_USAGE}\nimage-resizer check: error: option --json must not have an argument\n",
    )
    assert (bare.returncode, bare.stdout) == (2, "")
    assert bare.stderr == (
        f"{TOP_USAGE}\nimage-resizer: error: no command given; the commands are resize and check\n"
    )


def test_python_m_app_names_itself_so() -> None:
    done = _run(sys.executable, "-m", "app", "check", "--bogus")

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "usage: python -m app check [-h] [--config FILE] [--json]\n"
        "python -m app check: error: option --bogus not recognized\n"
    )


def test_help_and_usage_errors_load_no_libvips_nor_argparse() -> None:
    probe = (
        "import sys\n"
        "from app.__main__ import main\n"
        "statuses = [main(['--help']), main(['resize', '-h']), main(['resize', '--bogus'])]\n"
        "loaded = {'pyvips', 'argparse', 'app.config'} & set(sys.modules)\n"
        "print(statuses, sorted(loaded), file=sys.stderr)\n"
    )
    done = _run(sys.executable, "-c", probe)

    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "[0, 0, 2] []"
