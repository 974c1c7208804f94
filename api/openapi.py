"""The OpenAPI document and its interactive docs, served entirely by the service.

The docs page's JavaScript and CSS come from the ``swagger-ui-bundle`` package and
are served under ``/schema/assets``: no CDN, so they work offline and behind
firewalls. The record endpoint reads its body itself (to accept NaN tokens), so its
request schema is added to the document here, from the same msgspec types.
"""

from __future__ import annotations

from typing import Any

import msgspec
import swagger_ui_bundle
from litestar import Litestar, Router
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.static_files import create_static_files_router

from domain.results import BacktestSubmission

ASSETS = "/schema/assets"
PREFIX = "Submitted"


def openapi_config(version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="backtest-ledger",
        version=version,
        description=(
            "An event-sourced ledger of backtest results. Every /api/v1 route needs "
            "`Authorization: Bearer <api key>`. Errors are RFC 9457 problem+json."
        ),
        path="/schema",
        components=Components(
            security_schemes={
                "BearerAuth": SecurityScheme(
                    type="http", scheme="bearer", description="an API key from `users create`"
                )
            }
        ),
        render_plugins=[
            SwaggerRenderPlugin(
                js_url=f"{ASSETS}/swagger-ui-bundle.js",
                css_url=f"{ASSETS}/swagger-ui.css",
                standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
                favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
                path=["/", "/swagger"],
            ),
            JsonRenderPlugin(),
        ],
    )


def docs_assets() -> Router:
    return create_static_files_router(
        path=ASSETS, directories=[swagger_ui_bundle.swagger_ui_path], include_in_schema=False
    )


def _as_schema(value: dict[str, Any]) -> Schema:
    # Litestar serialises Schema objects; the JSON Schema from msgspec is plain data,
    # so wrap it without interpretation.
    return msgspec.convert(value, type=dict[str, Any])  # type: ignore[return-value]


def document_record_body(app: Litestar) -> None:
    """Describe the POST body of recordBacktest with the submission's JSON Schema."""
    openapi = app.openapi_schema
    _, components = msgspec.json.schema_components(
        [BacktestSubmission], ref_template=f"#/components/schemas/{PREFIX}{{name}}"
    )
    schemas = openapi.components.schemas if openapi.components else None
    if schemas is None:
        return
    for name, schema in components.items():
        schemas[f"{PREFIX}{name}"] = _as_schema(schema)
    for path_item in (openapi.paths or {}).values():
        operation = getattr(path_item, "post", None)
        if operation is not None and operation.operation_id == "recordBacktest":
            operation.request_body = RequestBody(
                required=True,
                description=(
                    "The backtest. Python's NaN/Infinity/-Infinity tokens are accepted and "
                    "stored as null (never 0.0)."
                ),
                content={
                    "application/json": OpenAPIMediaType(
                        schema=Reference(f"#/components/schemas/{PREFIX}BacktestSubmission")
                    )
                },
            )
