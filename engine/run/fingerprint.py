"""A request's fingerprint: a stable hash of what a model is asked, so a recorded reply
answers a call again only when the call asks what it asked then (`engine.run.record`).

It covers what reaches the model: the model, the system prompt, every message with its
tool uses and tool results, the structured reply's tool, the tools offered, the tool
choice and the sampling settings. It leaves out what does not: the attempt, the call
key, and the labels only the simulated provider reads (agent, role, task, team).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from engine.providers.base import Message, ProviderRequest, ToolSpec


def fingerprint(request: ProviderRequest) -> str:
    """The request's fingerprint: a SHA-256 of what it asks, as hex."""
    asked = {
        "model": request.model,
        "system": request.system,
        "messages": [_message(message) for message in request.messages],
        "tool": _tool(request.tool) if request.tool is not None else None,
        "tools": [_tool(tool) for tool in request.tools],
        "tool_choice": request.tool_choice,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "effort": request.effort,
    }
    text = json.dumps(asked, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _message(message: Message) -> dict[str, Any]:
    return {
        "role": message.role,
        "content": message.content,
        "context": message.context,
        "tool_uses": [{"id": use.id, "name": use.name, "input": use.input} for use in message.tool_uses],
        "tool_results": [asdict(result) for result in message.tool_results],
    }


def _tool(tool: ToolSpec) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}
