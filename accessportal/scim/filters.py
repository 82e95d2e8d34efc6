"""SCIM filters (`userName eq "alice"`, `externalId eq "00u1"`, `displayName eq "eng"`).

scim2-filter-parser turns the filter into parameterised SQL over our tables; an attribute
we do not map is refused (400 invalidFilter) rather than silently matching nothing, and
attribute names compare case-insensitively (RFC 7643 section 2.1). The rows found are then
narrowed to what the calling provider may see, by the same querysets as every other read.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import DataError, ProgrammingError, transaction
from django.db.models import QuerySet
from django_scim import filters
from scim2_filter_parser.parser import SCIMParserError

from accessportal.scim.errors import bad_request
from accessportal.scim.scoping import groups_of, users_of
from policies_app.models import DirectoryGroup, DirectoryUser


class CaseInsensitiveAttrMap(dict):
    """An attr_map whose (attribute, sub-attribute, uri) keys match in any case."""

    @staticmethod
    def _fold(key):
        return tuple(part.lower() if isinstance(part, str) else part for part in key)

    def __init__(self, mapping: dict) -> None:
        super().__init__({self._fold(k): v for k, v in mapping.items()})

    def get(self, key, default=None):
        return super().get(self._fold(key), default)

    def __contains__(self, key) -> bool:
        return super().__contains__(self._fold(key))


class _Scoped(filters.FilterQuery):
    @classmethod
    def search(cls, filter_query: str, request=None) -> QuerySet:
        try:
            query = cls.query_class(filter_query, cls.table_name(), cls.attr_map, cls.joins)
        except (SCIMParserError, ValueError, IndexError) as e:
            raise bad_request(f"invalid filter: {e}", "invalidFilter") from None
        unknown = [p for p in query.transpiler.attr_paths if p not in cls.attr_map]
        if unknown:
            names = sorted({".".join(x for x in p[:2] if x) for p in unknown})
            raise bad_request(f"cannot filter on {', '.join(names)}", "invalidFilter")
        if query.where_sql is None:
            return cls.model_getter().objects.none()
        sql, params = cls.get_raw_args(query, request)
        try:
            # A savepoint: on PostgreSQL a value that does not fit its column (`id eq
            # "abc"`, a NUL byte) aborts the statement, and must not abort the request.
            with transaction.atomic():
                ids = [row.pk for row in cls.model_getter().objects.raw(sql, params)]
        except (DataError, ProgrammingError, ValueError):
            raise bad_request(
                "invalid filter: a value does not fit the attribute it is compared with",
                "invalidFilter",
            ) from None
        return cls.scoped(request).filter(pk__in=ids).order_by("pk")

    @classmethod
    def scoped(cls, request) -> QuerySet:
        raise NotImplementedError


_USERS = get_user_model()._meta.db_table
_LINKS = DirectoryUser._meta.db_table


class UserFilterQuery(_Scoped):
    model_getter = staticmethod(get_user_model)
    attr_map = CaseInsensitiveAttrMap(
        {
            ("userName", None, None): f"{_USERS}.username",
            ("id", None, None): f"{_USERS}.id",
            ("externalId", None, None): f"{_LINKS}.external_id",
            ("emails", "value", None): f"{_USERS}.email",
            ("emails", None, None): f"{_USERS}.email",
            ("name", "givenName", None): f"{_USERS}.first_name",
            ("name", "familyName", None): f"{_USERS}.last_name",
            ("active", None, None): f"{_USERS}.is_active",
        }
    )
    joins = (f"LEFT JOIN {_LINKS} ON {_LINKS}.user_id = {_USERS}.id",)

    @classmethod
    def table_name(cls) -> str:
        return _USERS

    @classmethod
    def scoped(cls, request) -> QuerySet:
        return users_of(request)


_GROUPS = DirectoryGroup._meta.db_table
_MEMBERS = DirectoryGroup.members.through._meta.db_table


class GroupFilterQuery(_Scoped):
    model_getter = staticmethod(lambda: DirectoryGroup)
    attr_map = CaseInsensitiveAttrMap(
        {
            ("displayName", None, None): f"{_GROUPS}.display_name",
            ("id", None, None): f"{_GROUPS}.id",
            ("externalId", None, None): f"{_GROUPS}.external_id",
            # Entra asks "is this user a member?": id eq "g" and members[value eq "u"]
            ("members", "value", None): f"{_MEMBERS}.user_id",
        }
    )
    joins = (f"LEFT JOIN {_MEMBERS} ON {_MEMBERS}.directorygroup_id = {_GROUPS}.id",)

    @classmethod
    def scoped(cls, request) -> QuerySet:
        return groups_of(request)
