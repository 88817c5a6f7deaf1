"""The README's tool table is the one people read; it must list the tools and arguments the models accept."""

from __future__ import annotations

import re
from pathlib import Path

from webhook.tools import TOOL_HANDLERS

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_tools() -> dict[str, dict[str, bool]]:
    """tool -> {argument: required} from the table whose header is `| tool | arguments | answers |`.

    Arguments are the backticked names of the second column, `name?` meaning optional; anything in
    parentheses there is an explanation (example values), not an argument."""
    lines = README.read_text().splitlines()
    start = lines.index("| tool | arguments | answers |") + 2
    tools: dict[str, dict[str, bool]] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        tool_cell, args_cell = (cell.strip() for cell in line.strip("|").split("|")[:2])
        tool = tool_cell.strip("`")
        names = re.findall(r"`(\w+)(\??)`", re.sub(r"\([^)]*\)", "", args_cell))
        tools[tool] = {name: not optional for name, optional in names}
    return tools


def test_the_readme_tool_table_lists_exactly_the_tools_and_arguments_of_the_models():
    models = {name: {field: info.is_required() for field, info in tool.args.model_fields.items()}
              for name, tool in TOOL_HANDLERS.items()}
    assert _readme_tools() == models
