"""What drf-spectacular cannot infer about the tasks API's schema."""

from __future__ import annotations

from typing import Any


def task_submit_needs_a_file(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """``POST /tasks/`` needs at least one file, in ``image`` or in ``archive``
    (``TaskSubmitSerializer.validate``); a serializer cannot say "one of two fields", so
    the rule is added to the generated component, where a client generating requests
    from the schema finds it."""
    submit = result.get("components", {}).get("schemas", {}).get("TaskSubmitRequest")
    if submit is not None:
        submit["anyOf"] = [
            {"required": [field], "properties": {field: {"type": "array", "minItems": 1}}}
            for field in ("image", "archive")
        ]
    return result
