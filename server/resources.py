"""MCP resources: the skill playbooks (skill://NAME) and the bundled reference data (reference://PATH)."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.resources import FunctionResource

from specialize.runtime.workspace import references_root, skills_root


def add_resources(server: MCPServer) -> None:
    for skill_md in sorted(skills_root().glob("*/SKILL.md")):
        name = skill_md.parent.name
        server.add_resource(FunctionResource(
            uri=f"skill://{name}", name=f"skill-{name}", description=f"Playbook: {name}",
            mime_type="text/markdown", fn=lambda p=skill_md: p.read_text()))
    root = references_root()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in {".yaml", ".yml", ".json", ".j2", ".md"}:
            rel = path.relative_to(root).as_posix()
            server.add_resource(FunctionResource(
                uri=f"reference://{rel}", name=f"reference-{rel}", description=f"Bundled reference data: {rel}",
                mime_type="text/plain", fn=lambda p=path: p.read_text()))
