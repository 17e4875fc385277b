"""Hand-written SQL for the hot paths, built from the models' own field metadata.

Column names, quoting and value preparation come from Django's fields, so a renamed or
retyped column changes these statements with the model.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper


class Column(Protocol):
    """What the statements use of a concrete field: Django types `column` as optional
    because reverse relations have none; a concrete field always has one."""

    column: str
    attname: str
    primary_key: bool

    def get_db_prep_save(self, value: Any, connection: BaseDatabaseWrapper) -> Any: ...
    def pre_save(self, model_instance: models.Model, add: bool) -> Any: ...
    def cast_db_type(self, connection: BaseDatabaseWrapper) -> str | None: ...


def column_field(model: type[models.Model], name: str) -> Column:
    """The concrete field `name` of `model`."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or field.column is None:
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return cast(Column, field)


def concrete_columns(model: type[models.Model]) -> list[Column]:
    return [cast(Column, field) for field in model._meta.concrete_fields]


def pk_column(model: type[models.Model]) -> str:
    pk = model._meta.pk
    if pk is None or pk.column is None:
        raise TypeError(f"{model.__name__} has no primary key column")
    return pk.column
