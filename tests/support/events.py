"""Synthetic LLM usage events and independent (pure Python) aggregates over them."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

COLUMNS = ("event_time", "user_id", "workspace_id", "conversation_id", "message_id", "agent_id", "agent_db_id",
           "model", "provider", "prompt_tokens", "completion_tokens", "total_tokens", "tool_use_prompt_tokens",
           "thoughts_tokens", "cached_tokens", "cost_usd", "call_sequence", "turn_id", "session_id")
MODELS = [("gpt-4o", "openai"), ("claude-3-sonnet", "anthropic"), ("gemini-1.5-pro", "google"),
          ("o3-mini", "openai")]
AGENTS = ["wally", "manager", "researcher", "coder"]


@dataclass(frozen=True)
class Event:
    event_time: datetime
    user_id: uuid.UUID
    workspace_id: uuid.UUID
    model: str
    provider: str
    agent_id: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def row(self, rng: random.Random) -> list[object]:
        return [self.event_time, self.user_id, self.workspace_id, uuid.UUID(int=rng.getrandbits(128)),
                f"msg-{rng.randrange(10**9)}", self.agent_id, uuid.UUID(int=rng.getrandbits(128)), self.model,
                self.provider, self.prompt_tokens, self.completion_tokens, self.total_tokens,
                rng.randrange(50), rng.randrange(50), rng.randrange(100), self.cost_usd, rng.randrange(5),
                f"turn-{rng.randrange(10**6)}", f"sess-{rng.randrange(10**6)}"]


def _far_from(t: datetime, boundaries: list[datetime], margin: timedelta) -> bool:
    return all(abs(t - b) > margin for b in boundaries)


def generate(now: datetime, n: int = 10_000, seed: int = 7) -> tuple[list[Event], list[list[object]]]:
    """Events over the last 40 days (plus a dense last day), never within 10 minutes of a boundary the
    SCHEMA.md queries use, so that a few seconds between generation and query cannot move an event."""
    rng = random.Random(seed)
    users = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(6)]
    workspaces = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(4)]
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    boundaries = [now, now - timedelta(hours=1), now - timedelta(hours=24), month_start]
    margin = timedelta(minutes=10)
    events: list[Event] = []
    while len(events) < n:
        span = timedelta(days=1) if rng.random() < 0.3 else timedelta(days=40)
        t = now - timedelta(seconds=rng.uniform(0, span.total_seconds()))
        t = t.replace(microsecond=(t.microsecond // 1000) * 1000)
        if not _far_from(t, boundaries, margin):
            continue
        model, provider = rng.choice(MODELS)
        p, c = rng.randrange(1, 20_000), rng.randrange(1, 4_000)
        cost = Decimal(rng.randrange(0, 5_000_000)) / Decimal(10**6)
        events.append(Event(t, rng.choice(users), rng.choice(workspaces), model, provider, rng.choice(AGENTS),
                            p, c, cost))
    rows = [e.row(rng) for e in events]
    return events, rows


def daily(events: list[Event]) -> dict[tuple[object, ...], tuple[int, int, int, Decimal, int]]:
    out: dict[tuple[object, ...], list[object]] = defaultdict(lambda: [0, 0, 0, Decimal(0), 0])
    for e in events:
        k = (e.event_time.astimezone(timezone.utc).date(), e.user_id, e.workspace_id, e.model, e.agent_id)
        acc = out[k]
        acc[0] += e.prompt_tokens  # type: ignore[operator]
        acc[1] += e.completion_tokens  # type: ignore[operator]
        acc[2] += e.total_tokens  # type: ignore[operator]
        acc[3] += e.cost_usd  # type: ignore[operator]
        acc[4] += 1  # type: ignore[operator]
    return {k: tuple(v) for k, v in out.items()}  # type: ignore[misc]


def utc_date(t: datetime) -> date:
    return t.astimezone(timezone.utc).date()
