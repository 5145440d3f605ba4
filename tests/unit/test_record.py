"""`Record` behaves as the `typing.NamedTuple` mypy takes it for; every value object is one."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import NamedTuple

import pytest

import app
from app.record import Record, _Record

APP = Path(app.__file__).parent


class Twin(NamedTuple):
    size: int
    name: str = "x"
    parts: tuple[int, ...] = ()


class Mine(Record):
    size: int
    name: str = "x"
    parts: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.name}:{self.size}"


CALLS = [((1,), {}), ((1, "y"), {}), ((), {"size": 2}), ((3,), {"parts": (4, 5), "name": "z"})]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_a_record_is_made_and_shown_as_its_namedtuple_twin(
    args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    mine, twin = Mine(*args, **kwargs), Twin(*args, **kwargs)  # type: ignore[arg-type]

    assert tuple(mine) == tuple(twin)
    assert mine == twin and hash(mine) == hash(twin)  # tuples, as NamedTuples are
    assert repr(mine) == repr(twin).replace("Twin", "Mine")
    assert mine._asdict() == twin._asdict()
    assert mine._replace(name="w") == twin._replace(name="w")
    assert Mine._make(twin) == mine
    assert mine.label == f"{twin.name}:{twin.size}"


def test_a_record_declares_what_a_namedtuple_declares() -> None:
    assert Mine._fields == Twin._fields
    assert Mine._field_defaults == Twin._field_defaults
    assert Mine.__match_args__ == Twin.__match_args__
    assert Mine.size.__doc__ == Twin.size.__doc__  # type: ignore[attr-defined]
    match Mine(7, "m"):
        case Mine(size, name):
            assert (size, name) == (7, "m")


def test_a_record_survives_copy_and_pickle() -> None:
    mine = Mine(1, "y", (2, 3))

    for again in (copy.copy(mine), copy.deepcopy(mine), pickle.loads(pickle.dumps(mine))):
        assert again == mine and type(again) is Mine


def test_a_record_cannot_change() -> None:
    mine = Mine(1)

    with pytest.raises(AttributeError):
        mine.size = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        mine.other = 2  # type: ignore[attr-defined]  # no __dict__
    assert not hasattr(mine, "__dict__")


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((), {}, TypeError, "Mine() missing required argument: 'size'"),
        ((1, "y", (), 4), {}, TypeError, "Mine() takes 3 arguments but 4 were given"),
        ((1,), {"size": 2}, TypeError, "Mine() got multiple values for argument 'size'"),
        ((1,), {"colour": 2}, TypeError, "Mine() got an unexpected keyword argument 'colour'"),
        ((), {"name": "y"}, TypeError, "Mine() missing required argument: 'size'"),
    ],
)
def test_a_wrong_call_is_refused_as_a_namedtuples_is(
    args: tuple[object, ...], kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error):
        Twin(*args, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(error) as raised:
        Mine(*args, **kwargs)  # type: ignore[arg-type]
    assert str(raised.value) == message


class Pair(Record):
    left: int
    right: int


def test_a_field_given_twice_is_named_even_before_a_missing_one() -> None:
    with pytest.raises(TypeError, match=r"^Pair\(\) got multiple values for argument 'left'$"):
        Pair(1, left=2)  # type: ignore[misc]


def test_copy_replace_is_replace() -> None:
    assert Mine(1).__replace__(name="w") == Mine(1, "w")


def test_replace_refuses_a_field_the_record_lacks() -> None:
    with pytest.raises(ValueError, match=r"got unexpected field names: \['colour'\]"):
        Mine(1)._replace(colour=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="expected 3 arguments, got 2"):
        Mine._make([1, "y"])


def test_a_record_declared_wrongly_says_which_field() -> None:
    with pytest.raises(TypeError, match="field 'name' has no default but follows 'size'"):

        class Late(Record):
            size: int = 0
            name: str  # type: ignore[misc]

    with pytest.raises(TypeError, match="a record is declared on Record alone"):

        class More(Mine):
            pass


def test_deferred_annotations_are_refused_rather_than_read_as_no_fields() -> None:
    # Python 3.14 defers a class's annotations (an __annotate__ function, no
    # __annotations__) unless its module has `from __future__ import annotations`.
    namespace = {"__module__": __name__, "__annotate__": lambda format: {"size": int}}
    with pytest.raises(TypeError, match="needs `from __future__ import annotations`"):
        type(Mine)("Deferred", (Record,), namespace)


def test_every_value_object_in_app_is_a_record() -> None:
    # A typing.NamedTuple among them would load typing (and compile) with its module: the
    # start-up cost Record exists to avoid (tests/unit/test_command.py pins it for a resize).
    found = [
        f"{path.relative_to(APP.parent)}:{number}"
        for path in sorted(APP.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "NamedTuple)" in line or "namedtuple(" in line or "@dataclass" in line
    ]

    assert found == []
    assert issubclass(Mine, _Record) and issubclass(Mine, tuple)
    # Their annotations must stay unevaluated strings, collected as the class is defined.
    deferred = [
        str(path.relative_to(APP.parent))
        for path in sorted(APP.rglob("*.py"))
        if "(Record):" in (text := path.read_text())
        and "from __future__ import annotations" not in text
    ]
    assert deferred == []
