"""The Litestar application factory: wires settings, the engine, routes, auth, errors."""

from __future__ import annotations

import threading
from importlib.metadata import version
from pathlib import Path

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from api.admission import BodyBudget
from api.allow_header import allow_header, record_allowed_methods
from api.auth import ApiKeyAuthentication
from api.csrf import csrf_config, same_origin_only
from api.errors import EXCEPTION_HANDLERS
from api.https_cookies import https_cookies
from api.openapi import docs_assets, finish_document, openapi_config
from api.request_limits import request_limit
from api.routes.analyses import AnalysisController
from api.routes.audit import verify_audit_log
from api.routes.backtests import BacktestController
from api.routes.events import event_feed
from api.routes.experiments import ExperimentController
from api.routes.health import health
from api.routes.whoami import whoami
from api.security_headers import security_headers
from api.throttle import FailureThrottle
from api.web.experiment_pages import ExperimentPages
from api.web.pages import Pages, template_filters
from api.web.session import session_config
from infrastructure.byte_cache import ByteCache
from infrastructure.database import create_engine
from infrastructure.rate_windows import SharedWindows
from infrastructure.replicas import ReadRouting
from infrastructure.service_secret import service_secret
from infrastructure.settings import Settings
from projections import cursors
from projections.analyses import run_worker


def create_app(settings: Settings | None = None) -> Litestar:
    """The backtest-ledger app for ``settings`` (read from the environment by default)."""
    settings = settings or Settings()
    cursors.use_key(service_secret(settings))
    engine = create_engine(
        settings.database_url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        busy_timeout_s=settings.busy_timeout_s,
    )
    routing = ReadRouting(
        engine, settings.replica_urls, settings.replica_wait_ms / 1000,
        settings.replica_max_lag_s, pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
    )  # fmt: skip
    # counts on a small pool of their own: a request's connections are not theirs
    windows = SharedWindows(create_engine(settings.database_url, pool_size=2, max_overflow=2,
                                          busy_timeout_s=settings.busy_timeout_s),
                            flush_s=settings.rate_share_s)  # fmt: skip
    per_minute = settings.rate_limit_per_minute
    api = Router(
        path="/api/v1",
        route_handlers=[
            BacktestController,
            ExperimentController,
            AnalysisController,
            event_feed,
            verify_audit_log,
            whoami,
        ],
        middleware=[
            *([request_limit(per_minute, windows)] if per_minute > 0 else []),
            DefineMiddleware(ApiKeyAuthentication),
        ],
        security=[{"BearerAuth": []}],
    )

    def budget_bodies(app: Litestar) -> None:
        budget = settings.record_budget_bytes or 2 * settings.max_body_bytes
        app.state.body_budget = BodyBudget(budget, settings.admission_wait_s)

    # the analyses' worker threads: made at each startup (an app can be started again,
    # as the contract tests do, and a thread only once)
    running: list[tuple[threading.Event, list[threading.Thread]]] = []

    def start_workers() -> None:
        stop = threading.Event()
        threads = [threading.Thread(target=run_worker, name=f"analysis-worker-{n}", daemon=True,
                                    args=(engine, stop, settings.dask_scheduler or None,
                                          settings.analysis_lease_s))
                   for n in range(settings.analysis_workers)]  # fmt: skip
        for thread in threads:
            thread.start()
        running.append((stop, threads))

    def dispose() -> None:
        while running:
            stop, threads = running.pop()
            stop.set()
            for thread in threads:
                thread.join(timeout=5)
        windows.close()
        routing.dispose()
        engine.dispose()

    here = Path(__file__).parent

    def filters(engine: JinjaTemplateEngine) -> None:
        engine.engine.filters.update(template_filters())

    static = create_static_files_router(
        path="/static", directories=[here / "static"], include_in_schema=False
    )
    return Litestar(
        route_handlers=[health, api, docs_assets(), Pages, ExperimentPages, static],
        middleware=[
            https_cookies(settings.secure_cookies),
            security_headers,
            allow_header,
            same_origin_only,
            session_config(settings).middleware,
        ],
        csrf_config=csrf_config(service_secret(settings)),
        template_config=TemplateConfig(
            directory=here / "templates", engine=JinjaTemplateEngine, engine_callback=filters
        ),
        state=State(
            {
                "engine": engine,
                "settings": settings,
                "routing": routing,
                "throttle": FailureThrottle(settings.auth_failures_per_minute, shared=windows),
                "details": ByteCache(settings.detail_cache_bytes),
            }
        ),
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi_config(version("backtest-ledger")),
        on_startup=[finish_document, record_allowed_methods, budget_bodies, start_workers],
        on_shutdown=[dispose],
        request_max_body_size=settings.max_body_bytes,
    )
