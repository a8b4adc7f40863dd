"""What every benchmark script ends with: its Markdown table on stdout and, when asked, in files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional


def write_outputs(table: str, data: Any, json_path: Optional[Path], markdown_path: Optional[Path]) -> None:
    """Print ``table``; write ``data`` as JSON to ``json_path`` and ``table`` to ``markdown_path`` if given."""
    print(table)
    for path, text in ((json_path, json.dumps(data, indent=1)), (markdown_path, table + "\n")):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
