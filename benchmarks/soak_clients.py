"""The soak's users: API clients that run plans and preflights one after another on their org.

Each user posts its next run or preflight only after the previous one ended, as a browser
does. A refusal because the org is busy is retried (it is expected, not a loss); so are
transport errors and 5xx answers while a process or the database restarts. Only a 201
counts as accepted: those ids are what the soak later looks up in the database.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

ENDED = ("complete", "failed", "canceled")
# Words of the refusals that mean "the org is busy, try again later".
BUSY_WORDS = ("pending", "running", "try again")
# Refusals that mean the org connection is gone: connect again, then retry.
RECONNECT_WORDS = ("connection to your org has been lost", "no valid org")


@dataclass
class Accepted:
    """A run or preflight the API accepted (201), and what the client saw of it."""

    kind: str  # "run" or "preflight"
    user: str
    id: str
    accepted_at: float
    status: str = "started"
    ended_at: float | None = None
    probe: bool = False  # posted while another run was active on the org


@dataclass
class Tally:
    """What all the clients did, for the progress display and the final table."""

    accepted: list[Accepted] = field(default_factory=list)
    busy_refusals: int = 0
    reconnects: int = 0
    retried_errors: int = 0
    probes_refused: int = 0
    probes_accepted: int = 0
    rejected: list[str] = field(default_factory=list)  # unexpected 4xx: soak or API bug

    def ended(self, kind: str) -> int:
        return sum(1 for a in self.accepted if a.kind == kind and a.status in ENDED)

    def count(self, kind: str) -> int:
        return sum(1 for a in self.accepted if a.kind == kind)


@dataclass(frozen=True)
class Target:
    """What the clients run: the plans and the steps of a run."""

    base_url: str
    run_plan: str
    run_steps: list[str]
    preflight_plan: str
    poll_seconds: float
    contend: float  # probability of probing the org with a second request while busy


class UserClient:
    """One user: an API token, a local org, and a list of operations to do in order."""

    def __init__(self, name: str, token: str, ops: list[str], target: Target, tally: Tally,
                 rng: random.Random) -> None:
        self.name = name
        self.ops = ops
        self.target = target
        self.tally = tally
        self.rng = rng
        self.http = httpx.AsyncClient(
            base_url=target.base_url, timeout=30,
            headers={"Authorization": f"Token {token}"},
        )

    async def run(self, stop_posting: asyncio.Event) -> None:
        try:
            await self._request("post", "/api/orgs/connect/", json={})
            for op in self.ops:
                if stop_posting.is_set():
                    return
                accepted = await self._post(op)
                if accepted is not None:
                    await self._wait_until_ended(accepted)
        finally:
            await self.http.aclose()

    # -- posting ------------------------------------------------------------------------------

    def _post_args(self, kind: str) -> tuple[str, dict[str, Any] | None]:
        if kind == "run":
            return "/api/jobs/", {"plan": self.target.run_plan, "steps": self.target.run_steps}
        return f"/api/plans/{self.target.preflight_plan}/preflight/", None

    async def _post(self, kind: str) -> Accepted | None:
        path, body = self._post_args(kind)
        while True:
            response = await self._request("post", path, json=body)
            if response.status_code == 201:
                accepted = Accepted(kind, self.name, str(response.json()["id"]), time.time())
                self.tally.accepted.append(accepted)
                return accepted
            text = response.text.lower()
            if any(word in text for word in RECONNECT_WORDS):
                self.tally.reconnects += 1
                await self._request("post", "/api/orgs/connect/", json={})
            elif response.status_code in (400, 409) and any(w in text for w in BUSY_WORDS):
                self.tally.busy_refusals += 1
                await asyncio.sleep(self.rng.uniform(0.5, 1.5))
            else:
                self.tally.rejected.append(f"{kind} POST {response.status_code}: {text[:200]}")
                return None

    async def _probe(self, busy_with: Accepted) -> Accepted | None:
        """While `busy_with` runs, ask for the other kind on the same org: it must be refused.
        An accepted probe is a second run on the org, waited for like any other."""
        kind = "preflight" if busy_with.kind == "run" else "run"
        path, body = self._post_args(kind)
        response = await self._request("post", path, json=body)
        if response.status_code != 201:
            self.tally.probes_refused += 1
            return None
        self.tally.probes_accepted += 1
        accepted = Accepted(kind, self.name, str(response.json()["id"]), time.time(), probe=True)
        self.tally.accepted.append(accepted)
        return accepted

    # -- waiting ------------------------------------------------------------------------------

    async def _status(self, accepted: Accepted) -> str:
        if accepted.kind == "run":
            response = await self._request("get", f"/api/jobs/{accepted.id}/")
            return response.json()["status"] if response.status_code == 200 else "started"
        response = await self._request(
            "get", f"/api/plans/{self.target.preflight_plan}/preflight/")
        if response.status_code != 200:
            return "started"
        body = response.json()
        # The latest preflight of the org is a newer one: ours has ended.
        return body["status"] if str(body["id"]) == accepted.id else "complete"

    async def _wait_until_ended(self, accepted: Accepted) -> None:
        waiting = [accepted]
        # At once, while the run certainly has not ended (a run lasts about a second).
        if self.rng.random() < self.target.contend:
            if (extra := await self._probe(accepted)) is not None:
                waiting.append(extra)
        while waiting:
            await asyncio.sleep(self.target.poll_seconds * self.rng.uniform(0.7, 1.3))
            for item in list(waiting):
                status = await self._status(item)
                if status in ENDED:
                    item.status, item.ended_at = status, time.time()
                    waiting.remove(item)

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer to a request, retried through transport errors and 5xx answers."""
        delay = 0.5
        while True:
            try:
                response = await self.http.request(method, path, **kwargs)
                if response.status_code < 500:
                    return response
            except httpx.TransportError:
                pass
            self.tally.retried_errors += 1
            await asyncio.sleep(delay * self.rng.uniform(0.5, 1.5))
            delay = min(delay * 2, 5.0)


def deal_operations(runs: int, preflights: int, users: int, rng: random.Random
                    ) -> list[list[str]]:
    """`runs` runs and `preflights` preflights, shuffled and dealt to `users` users."""
    ops = ["run"] * runs + ["preflight"] * preflights
    rng.shuffle(ops)
    return [ops[n::users] for n in range(users)]
