"""A cheaper ``__init__`` for the frozen, slotted attrs classes of the model.

attrs gives a frozen class an ``__init__`` that stores each field through
``object.__setattr__`` bound to the new instance (``_setattr('id', id)``): a lookup of the slot
by name per field. :func:`slot_init` replaces it with one that calls each slot's own descriptor
(``Run.id.__set__``), found once when the class is made, with the same signature, defaults and
keyword-only fields. The instances are the same (frozen: ``__setattr__`` still raises); only
building them is cheaper (``Run`` 1.33 -> 1.14 µs with keywords; the batch path builds one
per record). It serves classes without validators, converters, factories or ``__attrs_post_init__``,
and refuses any other (a ``TypeError`` when the model module is imported, never later).
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

__all__ = ["slot_init"]

_T = TypeVar("_T")


def slot_init(cls: type[_T]) -> type[_T]:
    """Give the frozen slotted attrs class *cls* an ``__init__`` that sets slots directly."""
    if getattr(cls, "__attrs_post_init__", None) is not None or "__dict__" in dir(cls):
        raise TypeError(f"slot_init: {cls.__name__} must be slotted, without a post-init")
    fields = attrs.fields(cls)  # type: ignore[arg-type]
    namespace: dict[str, Any] = {}
    params: list[str] = []
    keyword_only: list[str] = []
    body: list[str] = []
    for index, field in enumerate(fields):
        if (
            field.validator is not None
            or field.converter is not None
            or isinstance(field.default, attrs.Factory)  # type: ignore[arg-type]
            or field.alias != field.name
            or not field.init
        ):
            raise TypeError(f"slot_init: {cls.__name__}.{field.name} needs attrs' own __init__")
        spelled = field.name
        if field.default is not attrs.NOTHING:
            namespace[f"_default{index}"] = field.default
            spelled += f"=_default{index}"
        (keyword_only if field.kw_only else params).append(spelled)
        namespace[f"_set{index}"] = cls.__dict__[field.name].__set__
        body.append(f"    _set{index}(self, {field.name})")
    signature = ", ".join(["self", *params, *(["*", *keyword_only] if keyword_only else [])])
    source = f"def __init__({signature}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(compile(source, f"<slot_init {cls.__qualname__}>", "exec"), namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    setattr(cls, "__init__", init)  # noqa: B010
    return cls
