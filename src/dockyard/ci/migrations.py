"""Schema of CI jobs and builds; the builds table *is* the durable queue.

ci.0002 seals job XML and password parameters with the credentials key. The key lives in
DATA/secrets, not in the database, so the data step of that change (sealing rows written before
it) is `CIStore.seal_plaintext()`, run when the CI component opens the store."""

from dockyard.store import Migration

MIGRATIONS = [
    Migration(
        "ci.0001",
        (
            """CREATE TABLE ci_jobs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name VARCHAR(200) NOT NULL UNIQUE,
                config_xml TEXT NOT NULL,
                scm_url VARCHAR(1000) NOT NULL DEFAULT '',
                scm_key VARCHAR(1000) NOT NULL DEFAULT '',
                branch_spec VARCHAR(255) NOT NULL DEFAULT '*/main',
                script_path VARCHAR(500) NOT NULL DEFAULT 'Jenkinsfile',
                credentials_id VARCHAR(200) NOT NULL DEFAULT '',
                concurrent BOOLEAN NOT NULL DEFAULT 0,
                disabled BOOLEAN NOT NULL DEFAULT 0,
                next_number INTEGER NOT NULL DEFAULT 1,
                created_by VARCHAR(64) NOT NULL DEFAULT '',
                created_at VARCHAR(40) NOT NULL
            )""",
            "CREATE INDEX ci_jobs_scm ON ci_jobs (scm_key)",
            """CREATE TABLE ci_builds (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                job_id INTEGER NOT NULL REFERENCES ci_jobs(id) ON DELETE CASCADE,
                number INTEGER NOT NULL,
                state VARCHAR(16) NOT NULL,
                result VARCHAR(16),
                reason TEXT NOT NULL DEFAULT '',
                cause VARCHAR(500) NOT NULL DEFAULT '',
                params_json TEXT NOT NULL DEFAULT '{}',
                git_commit VARCHAR(64) NOT NULL DEFAULT '',
                git_branch VARCHAR(255) NOT NULL DEFAULT '',
                clone_from VARCHAR(1000) NOT NULL DEFAULT '',
                source_repo VARCHAR(300) NOT NULL DEFAULT '',
                queued_at REAL NOT NULL,
                started_at REAL,
                finished_at REAL,
                cancel_requested BOOLEAN NOT NULL DEFAULT 0,
                UNIQUE (job_id, number)
            )""",
            "CREATE INDEX ci_builds_state ON ci_builds (state, id)",
        ),
    ),
    Migration(
        "ci.0002",
        (
            # the whole job XML, sealed (config_xml keeps '' once sealed); key_fingerprint says
            # which key sealed it, '' for rows still waiting for CIStore.seal_plaintext()
            "ALTER TABLE ci_jobs ADD COLUMN config_sealed TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE ci_jobs ADD COLUMN key_fingerprint VARCHAR(32) NOT NULL DEFAULT ''",
            # parameters the pipeline itself declared (Jenkinsfile `parameters {}`), JSON, recorded
            # after each run as Jenkins records them on the job
            "ALTER TABLE ci_jobs ADD COLUMN pipeline_params TEXT NOT NULL DEFAULT '[]'",
            # password parameter values of a build, sealed; params_json never holds them
            "ALTER TABLE ci_builds ADD COLUMN secret_params TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE ci_builds ADD COLUMN key_fingerprint VARCHAR(32) NOT NULL DEFAULT ''",
        ),
    ),
    Migration(
        "ci.triggers.0001",
        (
            # what a pipeline run declared for its job (dockyard.ci.triggers): kind is cron |
            # pollSCM | upstream | quietPeriod; spec its argument (JSON for upstream); state is
            # pollSCM's last seen heads
            """CREATE TABLE ci_job_properties (
                job_id INTEGER NOT NULL REFERENCES ci_jobs(id) ON DELETE CASCADE,
                kind VARCHAR(16) NOT NULL,
                spec TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT '{}',
                PRIMARY KEY (job_id, kind)
            )""",
        ),
    ),
]
