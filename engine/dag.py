"""Run steps with dependencies: each starts as soon as what it depends on is done.

Steps that can never run (an unknown dependency, a cycle, a failed dependency)
are reported as such instead of waited on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

from engine.guards import StopSession


class DagStep(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def depends_on(self) -> list[str]: ...


S = TypeVar("S", bound=DagStep)


@dataclass(frozen=True)
class Outcome(Generic[S]):
    step: S
    status: Literal["done", "error", "skipped"]
    output: str = ""
    error: str | None = None


def find_cycles(steps: Sequence[DagStep]) -> list[list[str]]:
    """Each dependency cycle among the steps, as the ids around it."""
    graph = {step.id: [d for d in step.depends_on] for step in steps}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in graph[node]:
            if dep not in graph:
                continue
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


async def run_dag(
    steps: Sequence[S],
    run_step: Callable[[S], Awaitable[str]],
    *,
    on_unrunnable: Callable[[Outcome[S]], Awaitable[None]],
    on_failure: Callable[[S, BaseException], Awaitable[str]],
    concurrency: int | None = None,
) -> dict[str, Outcome[S]]:
    """Run every step whose dependencies are done, in parallel, until none is left.

    `run_step` returns a step's output; any exception but `StopSession` (and
    cancellation) makes that step an error, described by `on_failure`. Steps that
    cannot run are passed to `on_unrunnable` as error or skipped outcomes.

    The outcomes come in the order of `steps`, not the order they finished in: what is
    made of them (a synthesis prompt) is then the same however the steps raced, and a
    resumed run, whose recorded steps finish at once, asks what an unbroken run asks.
    """
    by_id = {step.id: step for step in steps}
    outcomes: dict[str, Outcome[S]] = {}

    async def settle(outcome: Outcome[S]) -> None:
        outcomes[outcome.step.id] = outcome
        await on_unrunnable(outcome)

    for step in steps:
        missing = [d for d in step.depends_on if d not in by_id]
        if missing:
            await settle(Outcome(step, "error", error=f"depends on unknown step {', '.join(missing)}"))
    for cycle in find_cycles(steps):
        path = " -> ".join(cycle + cycle[:1])
        for step_id in cycle:
            if step_id not in outcomes:
                await settle(Outcome(by_id[step_id], "error", error=f"dependency cycle: {path}"))

    gate = asyncio.Semaphore(concurrency) if concurrency else None
    finished: asyncio.Queue[Outcome[S]] = asyncio.Queue()
    stopping = False

    async def one(step: S) -> None:
        nonlocal stopping
        try:
            if gate is None:
                output = await run_step(step)
            else:
                async with gate:
                    if stopping:  # a step waiting for its turn when the session stopped never starts
                        return
                    output = await run_step(step)
            outcome = Outcome(step, "done", output=output)
        except StopSession:
            stopping = True
            raise
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - a failed step is a result, not a crash
            outcome = Outcome(step, "error", error=await on_failure(step, error))
        finished.put_nowait(outcome)

    # Count what each step still waits for; when a step settles, visit only its dependents.
    dependents: dict[str, list[S]] = {step.id: [] for step in steps}
    waiting: dict[str, int] = {}
    for step in steps:
        if step.id in outcomes:
            continue
        waiting[step.id] = len(set(step.depends_on))
        for dep in set(step.depends_on):
            dependents[dep].append(step)

    running = 0
    settled: list[str] = [step_id for step_id in outcomes]
    async with asyncio.TaskGroup() as group:

        def start(step: S) -> None:
            nonlocal running
            running += 1
            group.create_task(one(step), name=f"step:{step.id}")

        for step in steps:
            if waiting.get(step.id) == 0:
                start(step)
        while True:
            while settled:
                done_id = settled.pop()
                for step in dependents[done_id]:
                    if step.id in outcomes:
                        continue
                    if outcomes[done_id].status != "done":
                        await settle(Outcome(step, "skipped", error=f"dependency {done_id} did not finish"))
                        settled.append(step.id)
                        continue
                    waiting[step.id] -= 1
                    if waiting[step.id] == 0:
                        start(step)
            if not running:
                break
            outcome = await finished.get()
            running -= 1
            outcomes[outcome.step.id] = outcome
            settled.append(outcome.step.id)
    for step in steps:  # anything left waits on nothing that can finish
        if step.id not in outcomes:
            await settle(Outcome(step, "error", error="blocked: its dependencies can never finish"))
    return {step.id: outcomes[step.id] for step in steps}
