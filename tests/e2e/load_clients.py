"""Concurrent REST clients for the load and fault tests, and the ledger of what each one was
told: which writes were acknowledged (and with what content and version), which were refused
with a 503 (and must therefore be absent), and anything the contract does not allow (a 500, a
503 without the error shape, a request that hung)."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import random
import time
from typing import Any

import httpx

# Every request is answered within ANSWER_BOUND_S (generous: 32 clients share 2 cores with the
# embedding model); a 503 within REFUSAL_BOUND_S (waiting for a pooled connection and connecting
# give up after 10 s each). The client's own timeout is above both, so a hang is seen as one.
ANSWER_BOUND_S = 60.0
REFUSAL_BOUND_S = 25.0
CLIENT_TIMEOUT_S = 90.0
CLIENT_KINDS = {"create", "user_update", "delete", "restore"}

PEOPLE = ["Asha", "Bruno", "Chidi", "Dora", "Elif", "Femi", "Greta", "Hugo"]
DOINGS = [
    "booked a table at the seafood place in",
    "started learning the cello with a teacher from",
    "lost an umbrella on the tram to",
    "is planning a cycling trip around",
    "recommended a bakery near the station in",
    "moved the team offsite to",
    "found a second-hand bookshop in",
    "wants to run a half marathon in",
]
PLACES = ["Porto", "Accra", "Sapporo", "Quito", "Tallinn", "Perth", "Bergen", "Cusco"]
QUERIES = [
    "who is learning the cello",
    "cycling trip",
    "where is the team offsite",
    "bakery near the station",
    "lost umbrella",
    "half marathon",
]


@dataclasses.dataclass
class Mem:
    """A memory as its writer knows it from the answers it got."""

    id: str
    cube: str
    content: str
    status: str  # "live", "deleted" or "hard" (purged)
    changes: int = 1  # acknowledged client changes: create, patches, delete, restore
    acked: dict[int, str] = dataclasses.field(default_factory=dict)  # version -> content
    uncertain: bool = False  # a write on it ended with outcome "unknown"


@dataclasses.dataclass
class Ledger:
    memories: dict[str, Mem] = dataclasses.field(default_factory=dict)
    refused_adds: list[str] = dataclasses.field(default_factory=list)  # contents (503)
    maybe_adds: list[str] = dataclasses.field(default_factory=list)  # contents (outcome unknown)
    refused_patches: dict[str, list[str]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list)
    )
    statuses: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)
    acknowledged: int = 0  # requests answered 2xx
    refused: int = 0  # requests answered 503
    errors: list[str] = dataclasses.field(default_factory=list)
    slowest_s: float = 0.0
    slowest_503_s: float = 0.0


class Agent:
    """One client: an httpx.AsyncClient with a tenant's key, working on one cube of the tenant
    (shared with the tenant's other clients) and on its own memories only."""

    def __init__(self, index: int, http: httpx.AsyncClient, cube: str, *, allow_503: bool):
        self.index = index
        self.http = http
        self.cube = cube
        self.allow_503 = allow_503
        self.rng = random.Random(index)
        self.ledger = Ledger()
        self.made = 0
        self.last_refused = False

    def _content(self) -> str:
        self.made += 1
        r = self.rng
        return (
            f"{r.choice(PEOPLE)} {r.choice(DOINGS)} {r.choice(PLACES)} "
            f"(note {self.index}-{self.made})"
        )

    async def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        """One request; None when it got no answer (recorded as an error)."""
        started = time.monotonic()
        try:
            r = await self.http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            self.ledger.errors.append(
                f"{method} {url}: no answer ({exc!r}) after {time.monotonic() - started:.1f}s"
            )
            return None
        took = time.monotonic() - started
        led = self.ledger
        led.slowest_s = max(led.slowest_s, took)
        led.statuses[r.status_code] += 1
        self.last_refused = r.status_code == 503
        if r.status_code == 503:
            led.refused += 1
            led.slowest_503_s = max(led.slowest_503_s, took)
            body = _json(r)
            error = body.get("error") if isinstance(body, dict) else None
            if not (
                self.allow_503
                and isinstance(error, dict)
                and error.get("code") == "unavailable"
                and error.get("message")
                and r.headers.get("Retry-After")
            ):
                led.errors.append(f"{method} {url}: 503 {r.text[:300]} {dict(r.headers)}")
        elif r.status_code >= 500:
            led.errors.append(f"{method} {url}: {r.status_code} {r.text[:300]}")
        elif r.status_code < 300:
            led.acknowledged += 1
        if took > (REFUSAL_BOUND_S if r.status_code == 503 else ANSWER_BOUND_S):
            led.errors.append(f"{method} {url}: answered {r.status_code} after {took:.1f}s")
        return r

    def _unexpected(self, what: str, r: httpx.Response) -> None:
        self.ledger.errors.append(f"{what}: unexpected {r.status_code} {r.text[:300]}")

    def _live(self) -> list[Mem]:
        return [m for m in self.ledger.memories.values() if m.status == "live" and not m.uncertain]

    def _deleted(self) -> list[Mem]:
        return [
            m for m in self.ledger.memories.values() if m.status == "deleted" and not m.uncertain
        ]

    async def step(self) -> None:
        """One operation: add 35 %, search 25 %, patch 20 %, delete 13 %, restore 5 %, and a
        reindex of the cube (a job for the worker) 2 %."""
        x = self.rng.random()
        live, deleted = self._live(), self._deleted()
        if x > 0.98:
            await self.reindex()
        elif x < 0.35 or not live:
            await self.add()
        elif x < 0.60:
            await self.search()
        elif x < 0.80:
            await self.patch(self.rng.choice(live))
        elif x < 0.93:
            await self.delete(self.rng.choice(live), hard=self.rng.random() < 0.35)
        elif deleted:
            await self.restore(self.rng.choice(deleted))
        else:
            await self.search()

    async def add(self) -> None:
        contents = [self._content() for _ in range(self.rng.randint(1, 3))]
        r = await self.call(
            "POST",
            f"/v1/cubes/{self.cube}/memories",
            json={"items": [{"content": c} for c in contents], "deduplicate": False},
        )
        if r is None:
            return
        if r.status_code == 201:
            for item, content in zip(r.json()["items"], contents, strict=True):
                assert item["content"] == content and item["version"] == 1, item
                self.ledger.memories[item["id"]] = Mem(
                    id=item["id"],
                    cube=self.cube,
                    content=content,
                    status="live",
                    acked={1: content},
                )
        elif r.status_code == 503:
            if _outcome_unknown(r):
                self.ledger.maybe_adds.extend(contents)
            else:
                self.ledger.refused_adds.extend(contents)
        else:
            self._unexpected("add", r)

    async def reindex(self) -> str | None:
        """Queue a reindex of the cube (the worker re-embeds it); its job id when queued."""
        r = await self.call("POST", f"/v1/cubes/{self.cube}/reindex")
        if r is not None and r.status_code == 202:
            return str(r.json()["job_id"])
        if r is not None and r.status_code != 503:
            self._unexpected("reindex", r)
        return None

    async def search(self) -> None:
        r = await self.call(
            "POST",
            f"/v1/cubes/{self.cube}/search",
            json={"query": self.rng.choice(QUERIES), "top_k": 5},
        )
        if r is not None and r.status_code not in (200, 503):
            self._unexpected("search", r)

    async def patch(self, mem: Mem) -> None:
        content = self._content()
        r = await self.call(
            "PATCH",
            f"/v1/cubes/{self.cube}/memories/{mem.id}",
            json={"content": content, "reason": f"client {self.index}"},
        )
        if r is None:
            mem.uncertain = True
        elif r.status_code == 200:
            body = r.json()
            assert body["content"] == content, body
            mem.content = content
            mem.changes += 1
            mem.acked[body["version"]] = content
        elif r.status_code == 503:
            if _outcome_unknown(r):
                mem.uncertain = True
            else:
                self.ledger.refused_patches[mem.id].append(content)
        else:
            self._unexpected(f"patch {mem.id}", r)

    async def delete(self, mem: Mem, *, hard: bool) -> None:
        r = await self.call(
            "DELETE",
            f"/v1/cubes/{self.cube}/memories/{mem.id}",
            params={"hard": "true"} if hard else None,
        )
        if r is None:
            mem.uncertain = True
        elif r.status_code == 204:
            mem.status = "hard" if hard else "deleted"
            mem.changes += 1
        elif r.status_code == 503:
            mem.uncertain = mem.uncertain or _outcome_unknown(r)
        else:
            self._unexpected(f"delete {mem.id}", r)

    async def restore(self, mem: Mem) -> None:
        r = await self.call("POST", f"/v1/cubes/{self.cube}/memories/{mem.id}/restore")
        if r is None:
            mem.uncertain = True
        elif r.status_code == 200:
            body = r.json()
            assert body["status"] == "active", body
            mem.status = "live"
            mem.changes += 1
            mem.acked[body["version"]] = mem.content
        elif r.status_code == 503:
            mem.uncertain = mem.uncertain or _outcome_unknown(r)
        else:
            self._unexpected(f"restore {mem.id}", r)


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return None


def _outcome_unknown(r: httpx.Response) -> bool:
    """A 503 whose write may have been committed (the connection was lost during COMMIT)."""
    body = _json(r)
    details = body.get("error", {}).get("details") if isinstance(body, dict) else None
    return isinstance(details, dict) and details.get("outcome") == "unknown"


async def _all_pages(http: httpx.AsyncClient, url: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 1000, **({"cursor": cursor} if cursor else {})}
        r = await http.get(url, params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        items.extend(body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            return items


async def verify(agents: list[Agent], *, settled: bool = False) -> dict[str, int]:
    """Everything acknowledged is there, as acknowledged; nothing refused is; counts add up.
    `settled`: the worker has finished (every live memory is enriched: `active`). Returns what
    was checked."""
    checked: collections.Counter[str] = collections.Counter()
    gate = asyncio.Semaphore(16)

    async def check_memory(agent: Agent, mem: Mem) -> None:
        async with gate:
            base = f"/v1/cubes/{mem.cube}/memories/{mem.id}"
            r = await agent.http.get(base)
            if mem.status == "hard" and not mem.uncertain:
                assert r.status_code == 404, (mem, r.text)
                checked["purged"] += 1
                return
            if mem.uncertain and r.status_code == 404:
                checked["uncertain"] += 1
                return
            assert r.status_code == 200, (mem, r.text)
            got = r.json()
            h = await agent.http.get(f"{base}/history")
            assert h.status_code == 200, h.text
            versions = h.json()["versions"]
        numbers = [v["version"] for v in versions]
        assert numbers == list(range(1, len(numbers) + 1)), (mem.id, numbers)
        # Another writer (the worker) may have added a version between the two reads.
        assert got["version"] <= len(numbers), (got["version"], numbers)
        assert versions[got["version"] - 1]["snapshot"]["content"] == got["content"]
        for content in agent.ledger.refused_patches.get(mem.id, []):
            assert all(v["snapshot"]["content"] != content for v in versions), (mem.id, content)
        if mem.uncertain:
            checked["uncertain"] += 1
            return
        assert got["content"] == mem.content, (mem, got)
        if mem.status == "deleted":
            assert got["status"] == "deleted", (mem, got)
            checked["soft_deleted"] += 1
        else:
            assert got["status"] in (("active",) if settled else ("pending", "active")), got
        mine = [v for v in versions if v["change_kind"] in CLIENT_KINDS]
        assert len(mine) == mem.changes, (mem, [v["change_kind"] for v in versions])
        for number, content in mem.acked.items():
            version = versions[number - 1]
            assert version["change_kind"] in CLIENT_KINDS, (mem.id, version)
            assert version["snapshot"]["content"] == content, (mem.id, number, version)
        checked["memories"] += 1
        checked["versions"] += len(versions)

    await asyncio.gather(
        *(check_memory(a, m) for a in agents for m in list(a.ledger.memories.values()))
    )

    by_cube: dict[str, list[Agent]] = collections.defaultdict(list)
    for agent in agents:
        by_cube[agent.cube].append(agent)
    for cube, members in by_cube.items():
        http = members[0].http
        url = f"/v1/cubes/{cube}/memories"
        listed = await _all_pages(http, url) + await _all_pages(http, url, status="deleted")
        ids = [m["id"] for m in listed]
        present = set(ids)
        assert len(ids) == len(present)
        contents = collections.Counter(m["content"] for m in listed)
        mems = [m for a in members for m in a.ledger.memories.values()]
        known = {m.id for m in mems}
        certain = [m for m in mems if not m.uncertain]
        kept = {m.id for m in certain if m.status != "hard"}
        purged = {m.id for m in certain if m.status == "hard"}
        assert kept <= present, sorted(kept - present)
        assert not purged & present, sorted(purged & present)
        maybe = {c for a in members for c in a.ledger.maybe_adds}
        strangers = [m for m in listed if m["id"] not in known]
        # Nothing anybody was refused, nothing nobody asked for.
        assert all(m["content"] in maybe for m in strangers), strangers
        for agent in members:
            for content in agent.ledger.refused_adds:
                assert contents[content] == 0, content
        assert all(contents[c] <= 1 for c in maybe)
        if not maybe and len(certain) == len(mems):
            # listed (live + soft-deleted) = acknowledged adds - acknowledged hard deletes
            hard = sum(m.status == "hard" for m in mems)
            assert len(ids) == len(mems) - hard, (len(ids), len(mems), hard)
            checked["cubes_reconciled"] += 1
        checked["cubes"] += 1
        checked["listed"] += len(ids)
        checked["refused_adds_absent"] += sum(len(a.ledger.refused_adds) for a in members)
    return dict(checked)


def summary(agents: list[Agent]) -> dict[str, Any]:
    statuses: collections.Counter[int] = collections.Counter()
    for agent in agents:
        statuses.update(agent.ledger.statuses)
    return {
        "requests": sum(statuses.values()),
        "statuses": dict(sorted(statuses.items())),
        "slowest_s": round(max(a.ledger.slowest_s for a in agents), 2),
        "slowest_503_s": round(max(a.ledger.slowest_503_s for a in agents), 2),
        "errors": [e for a in agents for e in a.ledger.errors],
    }
