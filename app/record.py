"""`Record`: the value objects' base, checked as a `typing.NamedTuple`, built without typing.

A class on `Record` is written as a NamedTuple is (annotated fields, defaults last,
methods and properties beside them) and mypy checks it as one: `Record` is
`typing.NamedTuple` to the type checker. At run time it is `_Record`, a tuple that makes
the same class without importing typing (about 14 M instructions, a twelfth of
`import pyvips`) and without compiling anything: collections.namedtuple compiles each
class's constructor, and typing then checks every field's type, about 0.8 M instructions a
class; a `Record` class costs a fifth of that. Every `image-resizer` run and cold start
defines about thirty of them (docs/development.md).

What a NamedTuple offers, a `Record` does too: positional or keyword fields with defaults,
immutability, equality and hashing as tuples, `_replace` (and `copy.replace`), `_make`,
`_asdict`, `_fields`, `_field_defaults`, `__match_args__`, a NamedTuple's repr, copy and
pickle. Two things it refuses, at once and saying so, where a NamedTuple would not: a
subclass of a record (no value object extends another), and a module without
`from __future__ import annotations` on an interpreter that no longer collects a class's
annotations as it is defined (Python 3.14's deferred annotations).
"""

from __future__ import annotations

from operator import itemgetter

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, Self
    from typing import NamedTuple as Record

__all__ = ["Record"]


class _RecordType(type):
    """Makes a class declared on `Record` a tuple of its annotated fields, as NamedTuple does."""

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> _RecordType:
        if bases == (tuple,):  # _Record itself
            return super().__new__(mcls, name, bases, namespace)
        if bases != (_Record,):
            raise TypeError(f"{name}: a record is declared on Record alone, not on {bases}")
        if "__annotations__" not in namespace and any(
            k.startswith("__annotate") for k in namespace
        ):
            raise TypeError(
                f"{name}: its fields' annotations are deferred; its module needs "
                "`from __future__ import annotations`"
            )
        fields = tuple(namespace.get("__annotations__", {}))  # in the order declared
        defaults = {field: namespace.pop(field) for field in fields if field in namespace}
        after = None
        for field in fields:
            if field in defaults:
                after = field
            elif after:
                raise TypeError(f"{name}: field {field!r} has no default but follows {after!r}")
        namespace["__slots__"] = ()  # no __dict__: a record's only state is its fields
        namespace["_fields"] = fields
        namespace["_field_defaults"] = defaults
        namespace["__match_args__"] = fields
        for index, field in enumerate(fields):
            namespace[field] = property(itemgetter(index), doc=f"Alias for field number {index}")
        return super().__new__(mcls, name, bases, namespace)


class _Record(tuple, metaclass=_RecordType):  # type: ignore[type-arg]
    """What `Record` is at run time; see the module's docstring."""

    __slots__ = ()
    _fields: tuple[str, ...]
    _field_defaults: dict[str, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        fields = cls._fields
        if len(args) > len(fields):
            raise TypeError(
                f"{cls.__name__}() takes {len(fields)} arguments but {len(args)} were given"
            )
        given = [field for field in fields[: len(args)] if field in kwargs]
        if given:
            raise TypeError(f"{cls.__name__}() got multiple values for argument {given[0]!r}")
        values = list(args)
        for field in fields[len(args) :]:
            if field in kwargs:
                values.append(kwargs.pop(field))
            elif field in cls._field_defaults:
                values.append(cls._field_defaults[field])
            else:
                raise TypeError(f"{cls.__name__}() missing required argument: {field!r}")
        if kwargs:
            extra = next(iter(kwargs))
            raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {extra!r}")
        return tuple.__new__(cls, values)

    @classmethod
    def _make(cls, iterable: Iterable[Any]) -> Self:
        values = tuple(iterable)
        if len(values) != len(cls._fields):
            raise TypeError(f"expected {len(cls._fields)} arguments, got {len(values)}")
        return tuple.__new__(cls, values)

    def _replace(self, **changes: Any) -> Self:
        values = [
            changes.pop(field, value) for field, value in zip(self._fields, self, strict=True)
        ]
        if changes:
            raise ValueError(f"got unexpected field names: {list(changes)!r}")
        return tuple.__new__(type(self), values)

    __replace__ = _replace  # copy.replace (Python 3.13)

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{field}={value!r}" for field, value in zip(self._fields, self, strict=True)
        )
        return f"{type(self).__name__}({shown})"

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)  # copy and pickle make the record again from its fields


if not TYPE_CHECKING:
    Record = _Record
