"""renditions.toml: profiles and rules over the environment, one check with every problem."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from app.config import profiles, renditions_file
from app.config import settings as config
from app.errors import ConfigError, PermanentError
from app.image.fit import SizeSpec

ROOT = Path(__file__).resolve().parents[2]

THREE = """
[defaults]
resize_widths = "300,600"
quality = 75

[profiles.avatars]
resize_widths = ["64x64:cover", "128x128:cover"]
output_formats = "webp,jpeg"
manifest = false

[profiles.products]
resize_widths = [300, 600, 900, 1200]
output_formats = ["jpeg", "webp", "avif"]
output_prefix = "products/"

[[rules]]
prefix = "images/"
profile = "default"

[[rules]]
prefix = "images/avatars/"
profile = "avatars"

[[rules]]
prefix = "images/shop/"
profile = "products"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "renditions.toml"
    path.write_text(text)
    return path


def problems(environ: dict[str, str], file: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        profiles.load(environ, file)
    return caught.value.problems


def test_no_file_is_exactly_the_environment() -> None:
    env = {"RESIZE_WIDTHS": "128x128:cover", "QUALITY": "70", "RENDITIONS_CONFIG": ""}
    loaded = profiles.load(env)

    assert list(loaded.profiles) == ["default"] and loaded.rules == ()
    assert loaded.default == config.load(env)
    assert loaded.file == profiles.DEFAULT_FILE  # the shipped file: all comments


def test_the_shipped_file_documents_itself_and_changes_nothing(tmp_path: Path) -> None:
    shipped = profiles.load({}, ROOT / "renditions.toml")

    assert shipped.default == config.load({}) and list(shipped.profiles) == ["default"]
    # Its commented example is a valid configuration once uncommented.
    text = (ROOT / "renditions.toml").read_text()
    example = "\n".join(
        line.removeprefix("# ")
        for line in text.splitlines()
        if re.match(r"# (\[|[a-z_]+ = )", line)
    )
    loaded = profiles.load({}, write(tmp_path, example))
    assert list(loaded.profiles) == ["default", "avatars", "products", "scans"]
    assert [(r.prefix, r.profile) for r in loaded.rules] == [
        ("images/products/", "products"),
        ("images/avatars/", "avatars"),
    ]


def test_layers_profiles_and_toml_values(tmp_path: Path) -> None:
    loaded = profiles.load({"QUALITY": "90", "CROP": "entropy"}, write(tmp_path, THREE))
    default, avatars, products = (loaded.profiles[n] for n in ("default", "avatars", "products"))

    assert [s.profile for s in loaded.profiles.values()] == ["default", "avatars", "products"]
    assert default.specs == (SizeSpec(300), SizeSpec(600))  # [defaults]
    assert avatars.specs == (SizeSpec(64, 64, cover=True), SizeSpec(128, 128, cover=True))
    assert products.specs == tuple(SizeSpec(w) for w in (300, 600, 900, 1200))  # integers
    assert (avatars.output_formats, products.output_formats) == (
        ("webp", "jpeg"),
        ("jpeg", "webp", "avif"),
    )
    # The environment overrides [defaults] (quality 75) for every profile that does
    # not set the key itself, and sets what the file does not (CROP).
    assert {s.quality.jpeg for s in loaded.profiles.values()} == {90}
    assert {s.crop for s in loaded.profiles.values()} == {"entropy"}
    assert (avatars.manifest_template, default.manifest_template) == (
        None,
        "{prefix}{dir}{stem}.json",
    )
    assert loaded.output_prefixes() == ["copy/", "products/"]
    assert loaded.values["products"]["output_formats"] == "jpeg,webp,avif"
    assert loaded.values["avatars"]["manifest"] == "off"


def test_a_profiles_own_key_wins_over_the_environment(tmp_path: Path) -> None:
    loaded = profiles.load({"OUTPUT_FORMATS": "png"}, write(tmp_path, THREE))

    assert loaded.default.output_formats == ("png",)
    assert loaded.profiles["avatars"].output_formats == ("webp", "jpeg")


def test_the_older_output_format_gives_way_to_a_profiles_output_formats(tmp_path: Path) -> None:
    loaded = profiles.load({"OUTPUT_FORMAT": "png"}, write(tmp_path, THREE))

    assert loaded.default.output_formats == ("png",)
    assert loaded.profiles["avatars"].output_formats == ("webp", "jpeg")
    assert loaded.values["default"]["output_formats"] == "png"


def test_rules_longest_prefix_then_metadata_wins(tmp_path: Path) -> None:
    loaded = profiles.load({}, write(tmp_path, THREE))

    def chosen(key: str, **metadata: str) -> str:
        return loaded.choose(key, metadata, f"s3://b/{key}").profile

    assert chosen("images/avatars/me.jpg") == "avatars"
    assert chosen("images/shop/shoe.jpg") == "products"
    assert chosen("images/cat.jpg") == "default"
    assert chosen("images/avatarsX.jpg") == "default"
    assert chosen("images/cat.jpg", profile="avatars") == "avatars"
    assert chosen("images/avatars/me.jpg", profile=" products ") == "products"
    with pytest.raises(PermanentError) as caught:
        chosen("images/avatars/me.jpg", profile="thumbs")
    assert str(caught.value) == (
        "s3://b/images/avatars/me.jpg asks for profile 'thumbs' (metadata 'profile'), which "
        "is not declared; declared profiles: default, avatars, products"
    )


def test_with_no_profiles_declared_the_metadata_means_nothing() -> None:
    loaded = profiles.Configuration.of(config.load({}))

    assert loaded.choose("images/a.jpg", {"profile": "anything"}, "s3://b/a").profile == "default"


def test_every_setting_is_a_file_key(tmp_path: Path) -> None:
    """A setting added to config.DEFAULTS is a valid key at once, in [defaults] and, if
    not the function's own, in a profile."""
    lines = [f"{name.lower()} = {value!r}" for name, value in config.DEFAULTS.items()]
    own = [line for line in lines if line.split(" = ")[0].upper() not in profiles.GLOBAL]
    text = "[defaults]\n" + "\n".join(lines) + "\n[profiles.all]\n" + "\n".join(own) + "\n"
    loaded = profiles.load({}, write(tmp_path, text.replace("'", '"')))

    assert loaded.profiles["all"] == config.load({})._replace(profile="all")
    assert set(loaded.values["all"]) == {n.lower() for n in config.DEFAULTS}


BAD = """
[defaults]
resize_widths = "300,abc"
qualty = 80
crop = 1.5

[profiles.avatars]
quality = 0
source_prefix = "x/"
output_prefix = "images/avatars-out/"

[profiles.Avatars]

[profiles.default]

[[rules]]
prefix = "images/a/"
profile = "nobody"

[[rules]]
prefix = "other/"
profile = "avatars"

[[rules]]
prefix = "other/"
profile = "avatars"
match = "*"

[extra]
"""


def test_a_bad_file_reports_every_problem_at_once_naming_profile_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, BAD)

    found = problems({"QUALITY": "0", "OBJECT_CONCURRENCY": "0"}, path)

    assert found == [
        f"{path}: unknown table [extra]: expected [defaults], [profiles.NAME] or [[rules]]",
        f"{path}: [defaults]: unknown key 'qualty': expected a setting's name in lower case "
        "(the configuration table of docs/configuration.md); did you mean 'quality'?",
        f"{path}: [defaults]: invalid crop 1.5: expected a string (as the environment writes "
        "it), an integer, true/false or a list",
        f"{path}: [profiles.avatars]: 'source_prefix' is the function's, not a profile's: set "
        "it in [defaults] or the environment",
        f"{path}: invalid profile name 'Avatars': expected 1-63 of a-z 0-9 _ -, starting with "
        "a letter or digit (as x-amz-meta-profile carries it)",
        f"{path}: [profiles.default]: 'default' is the profile of [defaults] itself; put its "
        "settings in [defaults]",
        f'{path}: rule 3: expected exactly prefix = "KEY PREFIX" and profile = "NAME" '
        "(unknown 'match')",
        # The environment's values are named as the environment names them, once.
        "invalid resize_widths '300,abc': expected comma-separated widths or WxH boxes "
        "(WxH:cover to fill the box and crop), each 1..16384, no repeats (e.g. 300,600,900 "
        "or 128x128:cover)",
        "invalid QUALITY '0': expected an integer from 1 to 100",
        "invalid OBJECT_CONCURRENCY '0': expected an integer from 1 to 64",
        "profile 'avatars': invalid quality '0': expected an integer from 1 to 100",
        "profile 'avatars': invalid SOURCE_PREFIX 'images/' with output_prefix "
        "'images/avatars-out/': expected prefixes that do not overlap, since copies written "
        "under the source prefix would trigger the function again (set OUTPUT_BUCKET to "
        "write elsewhere)",
        f"{path}: rule 1 ('images/a/'): profile 'nobody' is not declared; declared profiles: "
        "default, avatars",
        f"{path}: rule 2: prefix 'other/' is not under SOURCE_PREFIX 'images/', so no upload "
        "the function acts on matches it",
    ]


def test_a_file_that_is_not_toml_or_not_there(tmp_path: Path) -> None:
    path = write(tmp_path, "[defaults\nquality = 80\n")
    assert problems({}, path) == [
        f"{path}: cannot be read as TOML: Expected ']' at the end of a table declaration "
        "(at line 1, column 10)"
    ]
    missing = str(tmp_path / "nowhere.toml")
    assert problems({"RENDITIONS_CONFIG": missing}) == [
        f"invalid RENDITIONS_CONFIG {missing!r}: no such file"
    ]


# Files of comments and blank lines as TOML has them: read without the parser (a cold start
# on the shipped file loads none), they must give what the parser gives, which is nothing.
COMMENTS_ALONE = [
    "",
    "\n\n",
    "# a comment\n",
    "  # indented\r\n\t# after a tab, with # and = 1 and [defaults] inside\r\n\n# no last newline",
    "# written in UTF-8: é, ü, 写真, and a tab\there\n",
]
# Files that look like that but are not valid TOML: the parser's own words say why.
NEARLY_COMMENTS = [
    "# a NUL \x00 in a comment\n",
    "# a DEL \x7f in a comment\n",
    "# a carriage return\r# alone ends no line\n",
    "\ufeff# a byte order mark first\n",
    "# a form feed\n\x0c\n",
    "# a comment, then a table left open\n[defaults\n",
]


@pytest.mark.parametrize("text", COMMENTS_ALONE)
def test_a_file_of_comments_alone_reads_as_the_parser_reads_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "renditions.toml"
    path.write_bytes(text.encode())
    found: list[str] = []

    read = renditions_file.read({}, path, found)

    assert tomllib.loads(text) == {}  # what the parser makes of it
    assert read == renditions_file.File(path, text.encode(), {}, {}, [])
    assert found == []


@pytest.mark.parametrize("text", NEARLY_COMMENTS)
def test_a_file_that_is_nearly_comments_is_refused_in_the_parsers_words(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "renditions.toml"
    path.write_bytes(text.encode())
    with pytest.raises(tomllib.TOMLDecodeError) as parser:
        tomllib.loads(text)

    assert problems({}, path) == [f"{path}: cannot be read as TOML: {parser.value}"]


def test_an_integer_too_long_to_read_is_one_problem_not_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "[defaults]\nquality = " + "1" * 5000 + "\n")
    with pytest.raises(ValueError, match="Exceeds the limit") as python:
        int("1" * 5000)

    assert problems({}, path) == [f"{path}: cannot be read as TOML: {python.value}"]


def test_a_repeated_rule_prefix_is_refused(tmp_path: Path) -> None:
    text = THREE + '[[rules]]\nprefix = "images/shop/"\nprofile = "avatars"\n'
    path = write(tmp_path, text)
    assert problems({}, path) == [
        f"{path}: rule 4: prefix 'images/shop/' is listed more than once; expected one "
        "profile per prefix"
    ]


def test_the_function_starts_only_on_the_file_it_was_deployed_with(tmp_path: Path) -> None:
    file = tmp_path / "renditions.toml"
    file.write_text('[defaults]\nquality = "70"\n')
    deployed = profiles.load({}, file).sha256
    assert deployed is not None and len(deployed) == 64

    assert profiles.load({"RENDITIONS_SHA256": deployed}, file).default.quality.jpeg == 70
    file.write_text('[defaults]\nquality = "60"\n')  # another file than the one deployed
    with pytest.raises(ConfigError) as error:
        profiles.load({"RENDITIONS_SHA256": deployed}, file)
    now = profiles.load({}, file).sha256 or ""
    assert error.value.problems == [
        f"{file} has sha256 {now[:12]}..., but RENDITIONS_SHA256 says {deployed[:12]}...: the "
        "function runs another configuration file than the one deployed with it; deploy "
        "again with scripts/deploy.sh"
    ]
