"""MCP servers as sources of tools for a session's agents (through the official `mcp` SDK).

- `spec`: `McpServer`, a server as a team file or config.toml declares it;
- `names`: "server.tool" for agents and events, "server__tool" for models, and selectors;
- `connection`: one server held open for a session;
- `hub`: every server of a session, started, called and stopped together;
- `results`: a tool's result as the text an agent reads (cleaned, redacted, capped).

The SDK is imported only when a session has servers: it takes about half a second.
"""
