"""/api/v1/experiments/{name}/analyses: is the best of the sweep real? Analyses of a
whole experiment (PBO, SPA with the Reality Check, StepM, MCS, parameter stability),
queued as background jobs (``projections.analyses``)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, Request, delete, get, post
from litestar.concurrency import sync_to_thread
from litestar.datastructures import State
from litestar.params import PathParameter
from litestar.response import Response

from api.auth import owner_scope, requires
from api.openapi import answer
from api.routes.backtests import READER_ROLES, json_only
from api.routes.experiments import ExperimentName
from domain.analysis_request import parse_analysis_request
from infrastructure import jobs
from infrastructure.users import Role, User
from projections.analyses import (
    AnalysisOut,
    analysis_out,
    cancel_analysis,
    find_analysis,
    request_analysis,
)

READERS = requires(*READER_ROLES)
OWNERS = requires(Role.USER)
AnalysisId = Annotated[
    str, PathParameter(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$",
                       description="The analysis's id (a hash of its inputs and trials).")
]  # fmt: skip
ANALYSIS_BODY_BYTES = 4 * 1024


class AnalysisController(Controller):
    path = "/experiments/{name:str}/analyses"
    tags = ["experiments"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post(
        "/",
        operation_id="analyseExperiment",
        guards=[OWNERS],
        request_max_body_size=ANALYSIS_BODY_BYTES,
        responses={
            200: answer(AnalysisOut, "Analysed before with the same inputs and trials"),
            202: answer(AnalysisOut, "Queued, or already queued or running"),
        },
    )
    async def analyse(
        self, request: Request[User, Any, State], name: ExperimentName
    ) -> Response[AnalysisOut]:
        """Analyse the caller's experiment in the background. The optional body:
        ``{"partitions": 16, "benchmark": null, "reps": 1000, "block_length": null,
        "seed": 0, "size": 0.05}``. The same inputs on the same trials are the same
        analysis: 200 with it once done, else 202 with its ``Location``."""
        body = await request.body()
        if body.strip():
            json_only(request, "the analysis's inputs")
        wanted = parse_analysis_request(body)
        engine = request.app.state.engine
        job, _ = await sync_to_thread(request_analysis, engine, request.user.user_id, name, wanted)
        location = f"/api/v1/experiments/{quote(name, safe='')}/analyses/{job.analysis_id}"
        status = 200 if job.status == jobs.DONE else 202
        return Response(analysis_out(job), status_code=status, headers={"Location": location})

    @get(
        "/{analysis_id:str}",
        operation_id="getAnalysis",
        guards=[READERS],
        sync_to_thread=True,
        responses={200: answer(AnalysisOut, "Where the analysis stands, and its result")},
    )
    def analysis(
        self, request: Request[User, Any, State], name: ExperimentName, analysis_id: AnalysisId
    ) -> AnalysisOut:
        """``status`` (queued, running, done, failed, cancelled), ``progress`` (the share
        done), and once done the ``result``; ``error`` says why one failed."""
        engine = request.app.state.engine
        return analysis_out(find_analysis(engine, owner_scope(request.user), name, analysis_id))

    @delete("/{analysis_id:str}", operation_id="cancelAnalysis", guards=[OWNERS],
            sync_to_thread=True, status_code=204)  # fmt: skip
    def cancel(
        self, request: Request[User, Any, State], name: ExperimentName, analysis_id: AnalysisId
    ) -> None:
        """Cancel a queued or running analysis (409 once it has ended)."""
        cancel_analysis(request.app.state.engine, request.user.user_id, name, analysis_id)
