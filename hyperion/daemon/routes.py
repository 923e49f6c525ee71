"""The v1 routes: thin handlers from HTTP requests to :class:`Federation` calls."""

from __future__ import annotations

from typing import Any

from hyperion.api.server import ApiError, Request, Route
from hyperion.daemon.budget import BudgetExceeded
from hyperion.daemon.federation import Federation, PlacementError
from hyperion.daemon.report import report
from hyperion.errors import HyperionError, JobRejected, SiteError
from hyperion.state.ids import parse_job_id
from hyperion.state.models import HyperionJobState

Reply = tuple[int, dict[str, Any]]
#: jobs one GET /jobs returns at most (the newest first)
LIST_LIMIT = 1000


def routes(fed: Federation) -> list[Route]:
    """The route table of hyperiond's API, bound to ``fed``."""

    def ping(req: Request) -> Reply:
        return 200, {"pong": True}

    def submit(req: Request) -> Reply:
        try:
            status, payload = fed.submit(req.caller, req.body)
        except BudgetExceeded as exc:
            raise ApiError(402, exc.message, exc.hint) from None
        except PlacementError as exc:
            raise ApiError(
                503,
                exc.message,
                "check the job's size and time limit against "
                "`hctl sites`, or pin a site with --site",
            ) from None
        except JobRejected as exc:
            raise ApiError(400, str(exc)) from None
        except SiteError as exc:
            raise ApiError(
                503, str(exc), "the site may be down; try again or pin another"
            ) from None
        return status, payload

    def list_jobs(req: Request) -> Reply:
        state = req.query.get("state")
        if state is not None and state.upper() not in HyperionJobState.__members__:
            valid = ", ".join(HyperionJobState.__members__)
            raise ApiError(400, f"state={state}: not a job state", f"one of {valid}")
        query = {**req.query, **({"state": state.upper()} if state else {})}
        jobs = fed.list_jobs(req.caller, query)
        if len(jobs) >= LIST_LIMIT:
            req.warnings.append(
                f"only the newest {LIST_LIMIT} jobs are listed; filter with state=, site= or user="
            )
        return 200, {"jobs": jobs}

    def _job_id(req: Request) -> str:
        given = req.params["job_id"]
        try:
            return parse_job_id(given)
        except (ValueError, HyperionError):
            raise ApiError(404, f"no job {given} of yours", "job ids look like h3kx9qa") from None

    def get_job(req: Request) -> Reply:
        job_id = _job_id(req)
        try:
            return 200, {"job": fed.get_job(req.caller, job_id)}
        except LookupError:
            raise ApiError(404, f"no job {job_id} of yours") from None

    def cancel_job(req: Request) -> Reply:
        job_id = _job_id(req)
        try:
            return 200, {"job": fed.cancel(req.caller, job_id)}
        except LookupError:
            raise ApiError(404, f"no job {job_id} of yours") from None

    def sites(req: Request) -> Reply:
        return 200, {"sites": fed.sites()}

    def _site(req: Request) -> str:
        site = req.params["site"]
        if site not in fed.config.sites:
            raise ApiError(404, f"no site {site}", f"sites: {', '.join(sorted(fed.config.sites))}")
        return site

    def usage_report(req: Request) -> Reply:
        return 200, {"report": report(fed.engine, req.caller, req.query)}

    def job_event(req: Request) -> Reply:
        fields = {}
        for key in ("site", "job_id"):
            value = req.body.get(key)
            if value is not None and (not isinstance(value, str | int) or len(str(value)) > 200):
                raise ApiError(400, f"{key}: expected a short string", 'e.g. {"site": "alpha"}')
            fields[key] = None if value is None else str(value)
        # a site named like none of Hyperion's (or no name at all): every site is polled
        return 202, {"polled": fed.job_event(fields["site"], fields["job_id"])}

    def drain(req: Request) -> Reply:
        return 200, {"site": fed.set_drained(_site(req), True)}

    def resume(req: Request) -> Reply:
        return 200, {"site": fed.set_drained(_site(req), False)}

    return [
        Route("GET", "/ping", ping, "is the daemon alive"),
        Route("POST", "/jobs", submit, "submit a job (or, with test_only, explain its placement)"),
        Route("GET", "/jobs", list_jobs, "the caller's jobs (admins: ?all=1, ?user=U)"),
        Route("GET", "/jobs/{job_id}", get_job, "one job with its attempts"),
        Route("DELETE", "/jobs/{job_id}", cancel_job, "cancel a job wherever it is"),
        Route("GET", "/sites", sites, "per-site health and load"),
        Route(
            "POST",
            "/events",
            job_event,
            "a job ended at a site (its EpilogSlurmctld hook): poll now; only a hint",
        ),
        Route(
            "GET",
            "/report",
            usage_report,
            "ledger totals (jobs, core-hours, kWh, cost, gCO2) per group: ?by=user|account|site"
            "&since=EPOCH&until=EPOCH (users: their own attempts; admins: everyone's)",
        ),
        Route("POST", "/sites/{site}/drain", drain, "stop placing on a site", admin=True),
        Route("POST", "/sites/{site}/resume", resume, "allow placing on a site again", admin=True),
    ]
