"""The configuration reference (docs/configuration.md) and its Profiles section agree with
the validator."""

from __future__ import annotations

import re
from pathlib import Path

from app.config import profiles
from app.config import settings as config

# The page that holds the configuration table and Profiles, moved there from the README.
PAGE = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
# Read by config.load but not a setting of its own: the older name of OUTPUT_FORMATS.
ALIASES = {"OUTPUT_FORMAT"}


def reference() -> dict[str, str]:
    """The configuration table: variable -> its default column."""
    section = PAGE.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]*) \|", section, flags=re.M)
    return dict(rows)


def test_every_setting_is_documented_with_its_default_and_nothing_else() -> None:
    documented = reference()

    assert set(documented) - ALIASES == set(config.DEFAULTS)
    for name, default in config.DEFAULTS.items():
        column = documented[name].strip()
        if default:
            assert column.startswith(f"`{default}`"), (name, column)
        else:  # said in words: "empty: no events", "the source bucket"
            assert not column.startswith("`"), (name, column)


def test_the_functions_own_settings_are_listed_as_the_validator_has_them() -> None:
    said = PAGE.split("The function's own settings, the same for every profile", 1)[1]
    listed = set(re.findall(r"`([A-Z0-9_]+)`", said.split("\n\n", 1)[0]))

    assert listed == {name for name in profiles.GLOBAL if name in config.DEFAULTS}


def test_the_worked_example_is_a_valid_configuration(tmp_path: Path) -> None:
    section = PAGE.split("\n## Profiles\n", 1)[1].split("\n## ", 1)[0]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "renditions.toml"
    path.write_text(example)

    loaded = profiles.load({}, path)

    assert list(loaded.profiles) == ["default", "avatars", "products"]
    assert loaded.choose("images/shop/shoe.jpg", {}, "").output_prefix == "products/"
