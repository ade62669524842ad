from __future__ import annotations

import json

from hybridports.report.interface import Document, RenderOptions, Reporter


class JsonReporter(Reporter):
    name = "json"
    media_type = "application/json"

    def render(self, document: Document, options: RenderOptions) -> str:
        return json.dumps(document.to_json(), indent=2, ensure_ascii=False) + "\n"
