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
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Parameter,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.static_files import create_static_files_router

from api.conditional import CACHE_CONTROL, CONDITIONAL_READS
from api.schemas import Problem
from domain.results import BacktestSubmission
from domain.submission import ExclusionRequest

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


def answer(data_container: Any, description: str) -> ResponseSpec:
    """A documented 200 answer, without the examples Litestar would make up for it:
    random values drawn with Faker at every start, which took a third of the start-up."""
    return ResponseSpec(
        data_container=data_container, description=description, generate_examples=False
    )


def docs_assets() -> Router:
    return create_static_files_router(
        path=ASSETS, directories=[swagger_ui_bundle.swagger_ui_path], include_in_schema=False
    )


def _as_schema(value: dict[str, Any]) -> Schema:
    # Litestar serialises Schema objects; the JSON Schema from msgspec is plain data,
    # so wrap it without interpretation.
    return msgspec.convert(value, type=dict[str, Any])  # type: ignore[return-value]


ERRORS = {
    "400": "Malformed JSON, or bad parameters",
    "401": "No API key, or not a valid one",
    "403": "The key's role may not do this",
    "404": "No such backtest visible to this key (another user's looks the same)",
    "409": "A conflicting write: a concurrent change, or a reused idempotency key",
    "413": "The body is over the configured limit",
    "415": "The body is not application/json",
    "422": "An invalid backtest; `errors` names each field by JSON pointer",
    "429": "Too many requests for this key; see Retry-After",
    "503": "The database is unreachable; retry after Retry-After seconds",
}


def finish_document(app: Litestar) -> None:
    """Complete what Litestar cannot infer: the record body's schema, the RFC 9457
    problem responses every API operation can give, and the conditional reads' ETag,
    If-None-Match and 304."""
    document_request_bodies(app)
    document_problems(app)
    document_conditional_reads(app)


def document_problems(app: Litestar) -> None:
    openapi = app.openapi_schema
    schemas = openapi.components.schemas if openapi.components else None
    if schemas is None:
        return
    _, components = msgspec.json.schema_components(
        [Problem], ref_template="#/components/schemas/{name}"
    )
    for name, schema in components.items():
        schemas[name] = _as_schema(schema)
    problem = {
        "application/problem+json": OpenAPIMediaType(
            schema=Reference("#/components/schemas/Problem")
        )
    }
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "post", "delete"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            responses = operation.responses if operation.responses is not None else {}
            if "204" in responses:  # sent with no body, so with no Content-Type
                responses["204"] = OpenAPIResponse(description=responses["204"].description)
            if path.startswith("/api/"):
                for status, description in ERRORS.items():
                    responses[status] = OpenAPIResponse(description=description, content=problem)
            elif path == "/health":
                health = responses["200"]
                responses["503"] = OpenAPIResponse(
                    description="The database does not answer", content=health.content
                )
            operation.responses = responses


def document_conditional_reads(app: Litestar) -> None:
    """Each of ``CONDITIONAL_READS``: its answer's ``ETag`` and ``Cache-Control``, the
    ``If-None-Match`` it takes, and its 304."""
    text = Schema(type=OpenAPIType.STRING)
    for item in (app.openapi_schema.paths or {}).values():
        operation = getattr(item, "get", None)
        if operation is None or operation.operation_id not in CONDITIONAL_READS:
            continue
        source = CONDITIONAL_READS[operation.operation_id]
        tag = OpenAPIHeader(schema=text, description=f"A strong tag of {source}: it "
                            "changes whenever the answer would")  # fmt: skip
        cache = OpenAPIHeader(schema=text, description=f"`{CACHE_CONTROL}`: the caller may "
                              "keep the answer, a shared cache may not")  # fmt: skip
        operation.parameters = [*(operation.parameters or []), Parameter(
            name="If-None-Match", param_in="header", schema=text, required=False,
            description="A tag this operation gave: 304 with no body if the answer is "
            "still the same, decided before any stored series is read",
        )]  # fmt: skip
        responses = operation.responses or {}
        if "200" in responses:
            responses["200"].headers = {"ETag": tag, "Cache-Control": cache}
        responses["304"] = OpenAPIResponse(
            description="Not Modified: the tag sent still names the answer",
            headers={"ETag": tag, "Cache-Control": cache},
        )
        operation.responses = responses


# The POST bodies the routes read themselves (to stream, sanitise and name every bad
# field), with what the document says of them.
REQUEST_BODIES: dict[str, tuple[type, str]] = {
    "recordBacktest": (
        BacktestSubmission,
        "The backtest. Python's NaN/Infinity/-Infinity tokens are accepted and stored as "
        "null (never 0.0).",
    ),
    "excludeBacktestFromTrials": (ExclusionRequest, "Why it is not a variant tried."),
}


def document_request_bodies(app: Litestar) -> None:
    """Describe the POST bodies the routes read themselves with their JSON Schemas."""
    openapi = app.openapi_schema
    _, components = msgspec.json.schema_components(
        [body for body, _ in REQUEST_BODIES.values()],
        ref_template=f"#/components/schemas/{PREFIX}{{name}}",
    )
    schemas = openapi.components.schemas if openapi.components else None
    if schemas is None:
        return
    for name, schema in components.items():
        schemas[f"{PREFIX}{name}"] = _as_schema(schema)
    for path_item in (openapi.paths or {}).values():
        operation = getattr(path_item, "post", None)
        if operation is not None and operation.operation_id in REQUEST_BODIES:
            body, description = REQUEST_BODIES[operation.operation_id]
            operation.request_body = RequestBody(
                required=True,
                description=description,
                content={
                    "application/json": OpenAPIMediaType(
                        schema=Reference(f"#/components/schemas/{PREFIX}{body.__name__}")
                    )
                },
            )
