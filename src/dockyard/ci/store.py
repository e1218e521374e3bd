"""Jobs and builds in the database. A build row in state QUEUED is a queue entry: the queue
survives restarts because it *is* the table."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from dockyard.ci.jobxml import JobConfig, parse_job_xml, redact_job_xml
from dockyard.ci.model import Parameter
from dockyard.ci.scm import repo_key, strip_credentials
from dockyard.credentials import SecretBox
from dockyard.store import Database, utcnow

JOB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

QUEUED, RUNNING, DONE = "QUEUED", "RUNNING", "DONE"
SUCCESS, FAILURE, ABORTED, UNSTABLE = "SUCCESS", "FAILURE", "ABORTED", "UNSTABLE"


class JobError(ValueError):
    """A job request that cannot be done (bad name, exists, missing); the message says why."""


class JobNotFound(JobError):
    pass


@dataclass(frozen=True)
class Job:
    id: int
    name: str
    config_xml: str
    scm_url: str
    branch_spec: str
    script_path: str
    credentials_id: str
    concurrent: bool
    disabled: bool
    next_number: int
    created_at: str
    pipeline_params: tuple[Parameter, ...] = ()
    created_by: str = ""  # who created the job (shown; credentials follow the repository)

    @property
    def config(self) -> JobConfig:
        return parse_job_xml(self.config_xml)

    @property
    def public_xml(self) -> str:
        """config.xml as it may leave Dockyard: no URL password, no password-parameter default."""
        return redact_job_xml(self.config_xml)

    @property
    def public_scm_url(self) -> str:
        return strip_credentials(self.scm_url)[0]

    def declared_parameters(self) -> dict[str, Parameter]:
        """The parameters a build may be given: the pipeline's own (recorded after a run, as
        Jenkins records them) and the job XML's, which win on a name clash."""
        declared = {p.name: p for p in self.pipeline_params}
        declared.update((p.name, p) for p in self.config.parameters)
        return declared


@dataclass(frozen=True)
class Build:
    id: int
    job_id: int
    job_name: str
    number: int
    state: str
    result: str | None
    reason: str
    cause: str
    params: dict[str, Any]
    git_commit: str
    git_branch: str
    clone_from: str
    queued_at: float
    started_at: float | None
    finished_at: float | None
    cancel_requested: bool
    source_repo: str = ""
    secret_names: frozenset[str] = field(default_factory=frozenset)

    @property
    def building(self) -> bool:
        return self.state == RUNNING

    @property
    def duration_ms(self) -> int:
        if self.started_at is None:
            return 0
        end = self.finished_at if self.finished_at is not None else time.time()
        return int((end - self.started_at) * 1000)

    @property
    def public_params(self) -> dict[str, Any]:
        """Parameters as others may see them: password values left out (None), as Jenkins does."""
        return {k: (None if k in self.secret_names else v) for k, v in self.params.items()}


_BUILD_SELECT = "SELECT b.*, j.name AS job_name FROM ci_builds b JOIN ci_jobs j ON j.id = b.job_id"


class CIStore:
    """Jobs and builds; job XML and password parameter values are sealed with `box`."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box

    # sealing --------------------------------------------------------------------
    def _seal_job(self, name: str, config_xml: str) -> dict[str, str]:
        return {"sealed": self.box.seal(config_xml.encode(), f"ci.job:{name}"), "fp": self.box.fingerprint}

    def _job(self, r: Any) -> Job:
        xml = (
            self.box.open(r.config_sealed, f"ci.job:{r.name}", r.key_fingerprint).decode()
            if r.key_fingerprint
            else r.config_xml
        )
        cfg = parse_job_xml(xml)
        return Job(
            r.id,
            r.name,
            xml,
            cfg.scm_url,
            r.branch_spec,
            r.script_path,
            r.credentials_id,
            bool(r.concurrent),
            bool(r.disabled),
            r.next_number,
            r.created_at,
            tuple(
                Parameter(k, n, d, desc, tuple(c))
                for k, n, d, desc, c in json.loads(r.pipeline_params or "[]")
            ),
            r.created_by,
        )

    def _build(self, r: Any) -> Build:
        params = json.loads(r.params_json or "{}")
        secret: dict[str, Any] = {}
        if r.secret_params:
            context = f"ci.build:{r.job_id}:{r.number}"
            secret = json.loads(self.box.open(r.secret_params, context, r.key_fingerprint))
        return Build(
            r.id,
            r.job_id,
            r.job_name,
            r.number,
            r.state,
            r.result,
            r.reason,
            r.cause,
            {**params, **secret},
            r.git_commit,
            r.git_branch,
            r.clone_from,
            r.queued_at,
            r.started_at,
            r.finished_at,
            bool(r.cancel_requested),
            r.source_repo,
            frozenset(secret),
        )

    def seal_plaintext(self) -> int:
        """The data step of migration ci.0002: seal job XML stored in clear before it, and move
        password parameter values of old builds out of params_json. Returns the jobs sealed."""
        with self.db.transaction() as conn:
            rows = conn.execute(text("SELECT * FROM ci_jobs WHERE key_fingerprint = ''")).all()
            for r in rows:
                conn.execute(
                    text(
                        "UPDATE ci_jobs SET config_sealed = :sealed, key_fingerprint = :fp,"
                        " config_xml = '', scm_url = :u WHERE id = :i"
                    ),
                    {**self._seal_job(r.name, r.config_xml), "u": strip_credentials(r.scm_url)[0], "i": r.id},
                )
                secret_names = {
                    p.name for p in parse_job_xml(r.config_xml).parameters if p.kind == "password"
                }
                if not secret_names:
                    continue
                for b in conn.execute(
                    text(
                        "SELECT id, number, params_json FROM ci_builds"
                        " WHERE job_id = :j AND secret_params = ''"
                    ),
                    {"j": r.id},
                ).all():
                    params = json.loads(b.params_json or "{}")
                    secret = {k: params.pop(k) for k in list(params) if k in secret_names}
                    if secret:
                        conn.execute(
                            text(
                                "UPDATE ci_builds SET params_json = :p, secret_params = :s,"
                                " key_fingerprint = :fp WHERE id = :i"
                            ),
                            {
                                "p": json.dumps(params),
                                "s": self.box.seal(
                                    json.dumps(secret).encode(), f"ci.build:{r.id}:{b.number}"
                                ),
                                "fp": self.box.fingerprint,
                                "i": b.id,
                            },
                        )
        if rows and self.db.url.startswith("sqlite"):
            # the plaintext stays in freed pages until the file is rewritten
            with self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return len(rows)

    # jobs ---------------------------------------------------------------------
    def create_job(self, name: str, config_xml: str, created_by: str = "") -> Job:
        if not JOB_NAME_RE.match(name or ""):
            raise JobError(f"invalid job name {name!r}: use letters, digits, '.', '_' or '-' (max 100)")
        cfg = parse_job_xml(config_xml)
        with self.db.transaction() as conn:
            if conn.execute(text("SELECT 1 FROM ci_jobs WHERE name = :n"), {"n": name}).first():
                raise JobError(f"A job already exists with the name '{name}'")
            conn.execute(
                text(
                    "INSERT INTO ci_jobs (name, config_xml, config_sealed, key_fingerprint, scm_url, scm_key,"
                    " branch_spec, script_path, credentials_id, concurrent, disabled, created_by, created_at)"
                    " VALUES (:n, '', :sealed, :fp, :u, :k, :b, :s, :c, :cc, :d, :by, :at)"
                ),
                {
                    **_job_columns(name, cfg),
                    **self._seal_job(name, config_xml),
                    "by": created_by,
                    "at": utcnow().isoformat(),
                },
            )
        return self.job(name)

    def update_job(self, name: str, config_xml: str) -> Job:
        cfg = parse_job_xml(config_xml)
        with self.db.transaction() as conn:
            result = conn.execute(
                text(
                    "UPDATE ci_jobs SET config_xml = '', config_sealed = :sealed, key_fingerprint = :fp,"
                    " scm_url = :u, scm_key = :k, branch_spec = :b, script_path = :s, credentials_id = :c,"
                    " concurrent = :cc, disabled = :d WHERE name = :n"
                ),
                {**_job_columns(name, cfg), **self._seal_job(name, config_xml)},
            )
            if result.rowcount == 0:
                raise JobNotFound(f"no job named {name!r}")
        return self.job(name)

    def job(self, name: str) -> Job:
        with self.db.read() as conn:
            row = conn.execute(text("SELECT * FROM ci_jobs WHERE name = :n"), {"n": name}).first()
        if row is None:
            raise JobNotFound(f"no job named {name!r}")
        return self._job(row)

    def job_by_id(self, job_id: int) -> Job:
        with self.db.read() as conn:
            row = conn.execute(text("SELECT * FROM ci_jobs WHERE id = :i"), {"i": job_id}).first()
        if row is None:
            raise JobNotFound(f"no job with id {job_id}")
        return self._job(row)

    def jobs(self) -> list[Job]:
        with self.db.read() as conn:
            return [self._job(r) for r in conn.execute(text("SELECT * FROM ci_jobs ORDER BY name"))]

    def jobs_for_repo(self, keys: set[str]) -> list[Job]:
        with self.db.read() as conn:
            rows = conn.execute(text("SELECT * FROM ci_jobs WHERE disabled = 0 ORDER BY name"))
            return [self._job(r) for r in rows if r.scm_key in keys]

    def record_parameters(self, job_id: int, parameters: tuple[Parameter, ...]) -> None:
        """Remember the parameters a run's pipeline declared: the next trigger accepts them. A
        password parameter's default is not kept (the runner reads defaults from the pipeline)."""
        rows = [
            [p.kind, p.name, "" if p.kind == "password" else p.default, p.description, list(p.choices)]
            for p in parameters
        ]
        with self.db.transaction() as conn:
            conn.execute(
                text("UPDATE ci_jobs SET pipeline_params = :p WHERE id = :i"),
                {"p": json.dumps(rows), "i": job_id},
            )

    def delete_job(self, name: str) -> None:
        with self.db.transaction() as conn:
            if conn.execute(text("DELETE FROM ci_jobs WHERE name = :n"), {"n": name}).rowcount == 0:
                raise JobNotFound(f"no job named {name!r}")

    # builds -------------------------------------------------------------------
    def enqueue(
        self,
        job: Job,
        *,
        cause: str,
        params: dict[str, Any] | None = None,
        secret_names: frozenset[str] = frozenset(),
        commit: str = "",
        branch: str = "",
        clone_from: str = "",
        source_repo: str = "",
    ) -> Build:
        """Allocate the next build number and queue it, in one transaction; the values of
        `secret_names` (password parameters) are sealed, never stored in params_json."""
        params = params or {}
        public = {k: v for k, v in params.items() if k not in secret_names}
        secret = {k: v for k, v in params.items() if k in secret_names}
        with self.db.transaction() as conn:
            # one statement takes the number and moves the counter: concurrent triggers on
            # PostgreSQL queue on the job's row lock instead of reading the same number
            number = conn.execute(
                text(
                    "UPDATE ci_jobs SET next_number = next_number + 1 WHERE id = :i RETURNING next_number - 1"
                ),
                {"i": job.id},
            ).scalar()
            if number is None:
                raise JobNotFound(f"no job named {job.name!r}")
            conn.execute(
                text(
                    "INSERT INTO ci_builds (job_id, number, state, cause, params_json, secret_params,"
                    " key_fingerprint, git_commit, git_branch, clone_from, source_repo, queued_at)"
                    " VALUES (:j, :n, :s, :c, :p, :sp, :fp, :g, :b, :f, :sr, :q)"
                ),
                {
                    "j": job.id,
                    "n": number,
                    "s": QUEUED,
                    "c": cause,
                    "p": json.dumps(public),
                    "sp": self.box.seal(json.dumps(secret).encode(), f"ci.build:{job.id}:{number}")
                    if secret
                    else "",
                    "fp": self.box.fingerprint,
                    "g": commit,
                    "b": branch,
                    "f": clone_from,
                    "sr": source_repo,
                    "q": time.time(),
                },
            )
        return self.build(job.name, int(number))

    def build(self, job_name: str, number: int) -> Build:
        with self.db.read() as conn:
            row = conn.execute(
                text(_BUILD_SELECT + " WHERE j.name = :n AND b.number = :b"), {"n": job_name, "b": number}
            ).first()
        if row is None:
            raise JobNotFound(f"no build {job_name} #{number}")
        return self._build(row)

    def build_by_id(self, build_id: int) -> Build | None:
        with self.db.read() as conn:
            row = conn.execute(text(_BUILD_SELECT + " WHERE b.id = :i"), {"i": build_id}).first()
        return self._build(row) if row else None

    def builds(self, job_name: str, limit: int = 100, offset: int = 0) -> list[Build]:
        """Newest first; `offset` skips that many (a history page reads only its own rows)."""
        with self.db.read() as conn:
            rows = conn.execute(
                text(_BUILD_SELECT + " WHERE j.name = :n ORDER BY b.number DESC LIMIT :l OFFSET :o"),
                {"n": job_name, "l": limit, "o": offset},
            )
            return [self._build(r) for r in rows]

    def queued(self) -> list[Build]:
        with self.db.read() as conn:
            return [
                self._build(r)
                for r in conn.execute(
                    text(_BUILD_SELECT + " WHERE b.state = :s ORDER BY b.id"), {"s": QUEUED}
                )
            ]

    def running(self) -> list[Build]:
        with self.db.read() as conn:
            return [
                self._build(r)
                for r in conn.execute(
                    text(_BUILD_SELECT + " WHERE b.state = :s ORDER BY b.id"), {"s": RUNNING}
                )
            ]

    def start(self, build_id: int) -> bool:
        """QUEUED -> RUNNING; False if someone cancelled it in the meantime."""
        with self.db.transaction() as conn:
            return (
                conn.execute(
                    text("UPDATE ci_builds SET state = :r, started_at = :t WHERE id = :i AND state = :q"),
                    {"r": RUNNING, "t": time.time(), "i": build_id, "q": QUEUED},
                ).rowcount
                == 1
            )

    def set_commit(self, build_id: int, commit: str, branch: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                text("UPDATE ci_builds SET git_commit = :c, git_branch = :b WHERE id = :i"),
                {"c": commit, "b": branch, "i": build_id},
            )

    def finish(self, build_id: int, result: str, reason: str = "") -> None:
        with self.db.transaction() as conn:
            conn.execute(
                text(
                    "UPDATE ci_builds SET state = :d, result = :r, reason = :why, finished_at = :t,"
                    " started_at = COALESCE(started_at, :t) WHERE id = :i AND state != :d"
                ),
                {"d": DONE, "r": result, "why": reason, "t": time.time(), "i": build_id},
            )

    def previous_result(self, job_id: int, number: int) -> str | None:
        """The result of the job's last completed build before `number` (post { changed })."""
        with self.db.read() as conn:
            row = conn.execute(
                text(
                    "SELECT result FROM ci_builds WHERE job_id = :j AND number < :n AND state = :d"
                    " AND result IS NOT NULL ORDER BY number DESC LIMIT 1"
                ),
                {"j": job_id, "n": number, "d": DONE},
            ).first()
        return str(row[0]) if row else None

    def request_cancel(self, build_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute(text("UPDATE ci_builds SET cancel_requested = 1 WHERE id = :i"), {"i": build_id})

    def abort_interrupted(self) -> list[Build]:
        """At startup: builds left RUNNING by a process that died are ABORTED, with that reason."""
        stale = self.running()
        for b in stale:
            self.finish(
                b.id,
                ABORTED,
                "aborted: the Dockyard process stopped while this build was running"
                " (it was not resumed after the restart)",
            )
        return stale

    def prune(self, job: Job, keep: int) -> list[int]:
        """Delete finished builds beyond the newest `keep` (buildDiscarder); returns their numbers."""
        with self.db.transaction() as conn:
            rows = conn.execute(
                text(
                    "SELECT number FROM ci_builds WHERE job_id = :j AND state = :d ORDER BY number DESC"
                    " LIMIT -1 OFFSET :k"
                ),
                {"j": job.id, "d": DONE, "k": keep},
            ).all()
            numbers = [r.number for r in rows]
            for n in numbers:
                conn.execute(
                    text("DELETE FROM ci_builds WHERE job_id = :j AND number = :n"), {"j": job.id, "n": n}
                )
        return numbers


def _job_columns(name: str, cfg: JobConfig) -> dict[str, Any]:
    """The ci_jobs columns derived from a job's config XML (insert and update share them); the
    URL without its password (the sealed XML keeps it)."""
    return {
        "n": name,
        "u": strip_credentials(cfg.scm_url)[0],
        "k": repo_key(cfg.scm_url) if cfg.scm_url else "",
        "b": cfg.branch_spec,
        "s": cfg.script_path,
        "c": cfg.credentials_id,
        "cc": cfg.concurrent,
        "d": cfg.disabled,
    }
