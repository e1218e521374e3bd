"""CI: jobs, triggers, the durable queue, pipelines (Jenkinsfile subset, `.dockyard.yml`), executors,
build logs and traces, and Jenkins' remote API.

Public surface for other packages:

- `MIGRATIONS`: the schema (`ci.0001`...).
- `open_ci(services, credentials, executor) -> CIService`, a `dockyard.services.Component` (`.migrations`,
  `.routes()`, `await .start()` / `await .stop()`), also `.push(event)` (queue builds for a pushed
  ref) and `.store` (`CIStore`: jobs and builds). `executor` is an `ExecutorBackend`
  (`executor_backend(settings.ci_executor, settings)` by default).
- `forbidden_env_name(name)`: why a build parameter may not set that environment name, or None.
- Listens to `git.push` on the event bus (a `dockyard.events.PushEvent`: CI reads its
  `clone_url`, `branch`, `after`, `git_dir`, `pusher`, `deleted`); publishes `ci.build.started` and
  `ci.build.finished` (`job`, `number`, `result`, `commit`, `url`).
- `parse_jenkinsfile(text)`, `parse_yaml_pipeline(text)`, `parse_pipeline(text, filename)` ->
  `Pipeline`; errors are `PipelineError` with `file:line:col`. `parse_job_xml(xml)` -> the job's
  SCM URL, branch spec and script path (`JobConfigError`).
- `build_pod(pod_yaml, PodOptions(...), suffix)` -> the Kubernetes executor's `BuildPod` (its
  `.manifest`) and `default_image(registry)`: `dockyard doctor` dry-runs the executor's own pod.
- `check_yaml_events(text, filename)`: PipelineError for YAML aliases (a "billion laughs") and deep
  nesting, before the text is loaded.
- `format_trace(trace)`: a build's trace (as `/api/ci/.../trace` returns it) as a text table.
- Replay and restart from a stage (`dockyard.ci.replay`, `dockyard.ci.restart`): `may_replay`,
  `queue_replay`, `queue_restart`, `restartable_stages(paths)`, `load_script(paths)` (the
  pipeline a build ran), shared by the APIs and the build page.
- For the web UI's pages: `load_trace(path)`, `read_from(log, offset)` (the files behind
  `scheduler.paths(job, n)`), `Build`, `Job`, the states `QUEUED`/`DONE`, `JobError`, `JobNotFound`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.ci.access import JobForbidden
from dockyard.ci.buildlog import format_trace, load_trace, read_from
from dockyard.ci.errors import PipelineError
from dockyard.ci.jenkinsfile import parse_jenkinsfile
from dockyard.ci.jobxml import JobConfigError, parse_job_xml
from dockyard.ci.migrations import MIGRATIONS
from dockyard.ci.params import forbidden_env_name
from dockyard.ci.parsing import parse_pipeline
from dockyard.ci.store import DONE, QUEUED, Build, Job, JobError, JobNotFound
from dockyard.ci.yamlpipeline import _check_events as check_yaml_events
from dockyard.ci.yamlpipeline import parse_yaml_pipeline
from dockyard.lazyimport import lazy_exports

if TYPE_CHECKING:
    from dockyard.ci.access import RepoRole
    from dockyard.ci.backends import executor_backend
    from dockyard.ci.component import ExecutorBackend
    from dockyard.ci.csrf import HTTPError
    from dockyard.ci.executor.kubernetes import default_image
    from dockyard.ci.executor.kubernetes_pod import PodOptions, build_pod
    from dockyard.ci.input_api import pending_inputs, settle_input
    from dockyard.ci.podtemplate import CredentialLookup
    from dockyard.ci.rebuild import rebuild_cause, rebuild_params
    from dockyard.ci.replay import may_replay, queue_replay
    from dockyard.ci.restart import load_script, queue_restart, restartable_stages
    from dockyard.ci.service import CIService
    from dockyard.services import Services

__all__ = [
    "DONE",
    "QUEUED",
    "Build",
    "Job",
    "JobConfigError",
    "JobError",
    "JobForbidden",
    "JobNotFound",
    "load_trace",
    "read_from",
    "MIGRATIONS",
    "CIService",
    "ExecutorBackend",
    "HTTPError",
    "PodOptions",
    "build_pod",
    "check_yaml_events",
    "default_image",
    "PipelineError",
    "executor_backend",
    "forbidden_env_name",
    "format_trace",
    "open_ci",
    "parse_jenkinsfile",
    "parse_job_xml",
    "parse_pipeline",
    "parse_yaml_pipeline",
    "pending_inputs",
    "rebuild_cause",
    "rebuild_params",
    "settle_input",
    "may_replay",
    "queue_replay",
    "load_script",
    "queue_restart",
    "restartable_stages",
]


def open_ci(
    services: Services,
    credentials: CredentialLookup | None = None,
    repo_role: RepoRole | None = None,
    executor: ExecutorBackend | None = None,
) -> CIService:
    """Build the CI component from the server's shared services; `credentials` is the server's
    `dockyard.credentials.CredentialStore` (opened here when not given and the package exists);
    `repo_role(principal, owner, name) -> Role | None` is the git side's read check, which decides
    who sees the jobs and builds of a repository (`dockyard.ci.access`); `executor` the agent
    backend (the local one when not given)."""
    from dockyard.ci.backends import executor_backend
    from dockyard.ci.clock import clock_for
    from dockyard.ci.hooks import load_webhook_secret
    from dockyard.ci.service import CIService

    settings = services.settings
    if settings.ci_test_clock:
        import logging

        logging.getLogger(__name__).warning(
            "DOCKYARD_CI_TEST_CLOCK is set: cron triggers read the time from %s (a setting for tests only)",
            settings.ci_test_clock,
        )
    return CIService(
        services.db,
        services.auth,
        services.events,
        settings.ci_dir,
        lambda: settings.base_url,
        credentials=credentials if credentials is not None else _credential_store(services),
        webhook_secret=load_webhook_secret(settings.secrets_dir, settings.ci_webhook_secret),
        secrets_dir=settings.secrets_dir,
        repo_role=repo_role,
        executor=executor or executor_backend(settings.ci_executor, settings),
        # builds on Kubernetes wait in the queue beyond the cloud's cap, not this machine's CPUs
        executors=settings.ci_executors
        or (settings.k8s_container_cap if settings.ci_executor == "kubernetes" else None),
        max_parallel=settings.ci_max_parallel,
        outgoing_hosts=settings.webhook_allowed_hosts,
        clock=clock_for(settings.ci_test_clock),
    )


def _credential_store(services: Services) -> CredentialLookup:
    """The credentials component's store (`dockyard.credentials`), when the server passes none."""
    from dockyard.credentials import CredentialStore

    return CredentialStore.open(services.db, services.settings.secrets_dir)


# The component protocols load on first use (they import Starlette and auth; `dockyard ci` and
# the executor's zygote import this package and need neither).
__getattr__ = lazy_exports(
    __name__,
    {
        "ExecutorBackend": "dockyard.ci.component",
        "CIService": "dockyard.ci.service",
        "executor_backend": "dockyard.ci.backends",
        "PodOptions": "dockyard.ci.executor.kubernetes_pod",
        "build_pod": "dockyard.ci.executor.kubernetes_pod",
        "default_image": "dockyard.ci.executor.kubernetes",
        "HTTPError": "dockyard.ci.csrf",
        "pending_inputs": "dockyard.ci.input_api",
        "settle_input": "dockyard.ci.input_api",
        "rebuild_cause": "dockyard.ci.rebuild",
        "rebuild_params": "dockyard.ci.rebuild",
        "may_replay": "dockyard.ci.replay",
        "queue_replay": "dockyard.ci.replay",
        "load_script": "dockyard.ci.restart",
        "queue_restart": "dockyard.ci.restart",
        "restartable_stages": "dockyard.ci.restart",
    },
)
