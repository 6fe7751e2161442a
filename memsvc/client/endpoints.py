"""Declaring an API operation once for both clients.

An operation is a plain function that turns the caller's arguments into the `Parts` of a
request, decorated with its route (`@route("GET", "/v1/cubes/{cube_id}", model(Cube))`). The
decorator makes it a descriptor: read from a `MemoryClient` it is a method returning the
decoded answer, read from an `AsyncMemoryClient` a method returning an awaitable of it. The
route table (`routes_of`) is read from the same declarations, so a test can hold it against
the server's.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

from memsvc.client.calls import Call, Decoder, compact, fill, jsonable
from memsvc.client.executors import AsyncExecutor, SyncExecutor

P = ParamSpec("P")
T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - an item of a page

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})


@dataclass(frozen=True)
class Parts:
    """The variable parts of a request: path ids, query parameters (None values dropped) and
    a JSON body, or raw `content` with its `content_type`."""

    ids: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    content: bytes | None = None
    content_type: str | None = None


class Operation(Generic[P, T]):
    """A method of both clients: read from a `SyncExecutor` it returns T, from an
    `AsyncExecutor` an awaitable of T. Subclasses say how the executor runs it."""

    # the function it was declared as: its parameters and docstring are the method's
    declared: Callable[..., Any]
    name = ""
    doc: str | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def invoke(self, executor: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @overload
    def __get__(self, obj: None, owner: type) -> Operation[P, T]: ...
    @overload
    def __get__(self, obj: SyncExecutor, owner: type) -> Callable[P, T]: ...
    @overload
    def __get__(self, obj: AsyncExecutor, owner: type) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, obj: Any, owner: type) -> Any:
        if obj is None:
            return self

        def bound(*args: Any, **kwargs: Any) -> Any:
            return self.invoke(obj, *args, **kwargs)

        return self.presented(bound)

    def presented(
        self, bound: Callable[..., Any], doc: str | None = None, name: str | None = None
    ) -> Any:
        """`bound` with the name, parameters and docstring it was declared with, for help()
        and IDEs (the declared return annotation is not what the caller gets)."""
        bound.__name__ = bound.__qualname__ = name or self.name or self.declared.__name__
        bound.__doc__ = doc or self.doc or self.declared.__doc__
        bound.__signature__ = inspect.signature(self.declared).replace(  # type: ignore[attr-defined]
            return_annotation=inspect.Signature.empty
        )
        return bound


class Endpoint(Operation[P, T]):
    """One route: `build` turns the caller's arguments into the request's `Parts`."""

    def __init__(
        self,
        method: str,
        template: str,
        decode: Decoder[T],
        build: Callable[P, Parts],
        *,
        idempotent: bool | None,
        accept: Iterable[int],
        doc: str | None = None,
    ):
        self.method = method
        self.template = template
        self.decode = decode
        self.declared = self.build = build
        self.idempotent = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        self.accept = frozenset(accept)
        self.doc = doc

    def call(self, *args: P.args, **kwargs: P.kwargs) -> Call[T]:
        parts = self.build(*args, **kwargs)
        headers = {"content-type": parts.content_type} if parts.content_type else {}
        return Call(
            method=self.method,
            path=fill(self.template, **parts.ids),
            decode=self.decode,
            params=compact(**parts.query) or None,
            json=None if parts.body is None else jsonable(parts.body),
            content=parts.content,
            headers=headers,
            idempotent=self.idempotent,
            accept=self.accept,
        )

    def invoke(self, executor: Any, *args: Any, **kwargs: Any) -> Any:
        return executor._run(self.call(*args, **kwargs))


def route(
    method: str,
    template: str,
    decode: Decoder[T],
    *,
    idempotent: bool | None = None,
    accept: Iterable[int] = (),
    doc: str | None = None,
) -> Callable[[Callable[P, Parts]], Endpoint[P, T]]:
    """Declare an operation. `idempotent`: safe to send twice (default: by HTTP method; a
    POST that only reads says True). `accept`: error statuses that are answers. `doc`: the
    method's docstring when `build` is shared by several operations."""

    def declare(build: Callable[P, Parts]) -> Endpoint[P, T]:
        return Endpoint(
            method, template, decode, build, idempotent=idempotent, accept=accept, doc=doc
        )

    return declare


class Paginated(Generic[P, T, I]):
    """`iter_*`: every item of a paginated list, following `next_cursor` page after page."""

    def __init__(self, endpoint: Endpoint[P, T], items: Callable[[T], Iterable[I]]):
        self.endpoint = endpoint
        self.items = items
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def pages(self, *args: P.args, **kwargs: P.kwargs) -> Callable[[T | None], Call[T] | None]:
        """The call for the page after `page` (the first for None); None after the last."""

        def after(page: T | None) -> Call[T] | None:
            if page is None:
                return self.endpoint.call(*args, **kwargs)
            cursor = getattr(page, "next_cursor", None)
            if cursor is None:
                return None
            return self.endpoint.call(*args, **{**kwargs, "cursor": cursor})

        return after

    @overload
    def __get__(self, obj: None, owner: type) -> Paginated[P, T, I]: ...
    @overload
    def __get__(self, obj: SyncExecutor, owner: type) -> Callable[P, Iterator[I]]: ...
    @overload
    def __get__(self, obj: AsyncExecutor, owner: type) -> Callable[P, AsyncIterator[I]]: ...
    def __get__(self, obj: Any, owner: type) -> Any:
        if obj is None:
            return self
        listed = self.endpoint.name

        def every_item(*args: Any, **kwargs: Any) -> Any:
            return obj._paginate(self.pages(*args, **kwargs), self.items)

        doc = f"Every item of `{listed}`, following `next_cursor` page after page."
        return self.endpoint.presented(every_item, doc, self.name)


def paginated(endpoint: Endpoint[P, T], items: Callable[[T], Iterable[I]]) -> Paginated[P, T, I]:
    return Paginated(endpoint, items)


Plan = Generator[Any, Any, T]


class Procedure(Operation[P, T]):
    """An operation of several calls (polling a job): a generator yielding `Call`s (answered
    with their results) and `Wait`s, so both clients run the same steps."""

    def __init__(self, plan: Callable[P, Plan[T]]):
        self.declared = self.plan = plan

    def invoke(self, executor: Any, *args: Any, **kwargs: Any) -> Any:
        return executor._drive(self.plan(*args, **kwargs))


def routes_of(cls: type) -> set[tuple[str, str]]:
    """(method, path template) of every operation a client class declares."""
    return {
        (value.method, value.template)
        for klass in cls.__mro__
        for value in vars(klass).values()
        if isinstance(value, Endpoint)
    }
