"""Which executor a build gets (the server's default, or its pod template's annotation), and which
credential ids a pipeline names (read from the cluster's Secrets before the steps run). No cluster
is needed: nothing here talks to the API server."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.ci import executor_backend, parse_jenkinsfile
from dockyard.ci.executor.interface import ExecutorError
from dockyard.ci.runner import credential_ids
from dockyard.config import Settings


def test_the_default_serves_unless_the_pipeline_picks(tmp_path: Path) -> None:
    local = executor_backend("local", Settings(data_dir=tmp_path))
    k8s = executor_backend("kubernetes", Settings(data_dir=tmp_path, ci_executor="kubernetes"))
    try:
        assert local.new().pick("").name == "local"  # type: ignore[attr-defined]
        assert local.new().pick("kubernetes").name == "kubernetes"  # type: ignore[attr-defined]
        assert k8s.new().pick("").name == "kubernetes"  # type: ignore[attr-defined]
        assert k8s.new().pick("local").name == "local"  # type: ignore[attr-defined]
        with pytest.raises(ExecutorError, match="'docker' is not one of local, kubernetes"):
            local.new().pick("docker")  # type: ignore[attr-defined]
    finally:
        local.close()
        k8s.close()
    with pytest.raises(ValueError, match="unknown CI executor 'nomad'"):
        executor_backend("nomad", Settings(data_dir=tmp_path))


def test_credential_ids_named_anywhere_in_the_pipeline() -> None:
    pipeline = parse_jenkinsfile("""pipeline {
  agent any
  environment { A = credentials('top-level') }
  stages {
    stage('s') {
      environment { B = credentials('stage-level') }
      steps {
        withCredentials([usernamePassword(credentialsId: 'bound', usernameVariable: 'U',
                                          passwordVariable: 'P'),
                         string(credentialsId: 'text-one', variable: 'T')]) { sh 'true' }
      }
    }
  }
  post { always { withCredentials([file(credentialsId: 'in-post', variable: 'F')]) { sh 'true' } } }
}""")
    ids = credential_ids(pipeline)
    assert sorted(ids) == ["bound", "in-post", "stage-level", "text-one", "top-level"] and len(set(ids)) == 5
