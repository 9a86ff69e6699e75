"""A team on more than one provider: each agent's calls go to its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

from engine.providers.base import Provider, ProviderEvent, ProviderRequest


class ByAgent:
    """One provider per agent, seen by the engine as one: a lead on Claude and workers on
    a local model. Its name lists the providers ("anthropic, ollama"); its secrets are
    all of theirs, so the engine keeps every key out of its events."""

    def __init__(self, providers: dict[str, Provider], by_agent: dict[str, str]) -> None:
        self.name = ", ".join(providers)
        self.secrets = tuple(secret for provider in providers.values() for secret in getattr(provider, "secrets", ()))
        self._by_agent = {agent: providers[name] for agent, name in by_agent.items()}
        self._first = next(iter(providers.values()))

    def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        return self._by_agent.get(request.agent, self._first).stream(request)
