"""The go.mod of our Kubernetes build pins exactly the staging modules Kubernetes replaces."""

from __future__ import annotations

from tests.k8s.build import staging_replacements

KUBERNETES_GO_MOD = """module k8s.io/kubernetes

go 1.26.0

require (
\tk8s.io/api v0.0.0
\tsigs.k8s.io/yaml v1.6.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/cri-api => ./staging/src/k8s.io/cri-api
\tgithub.com/example/fork => github.com/example/fork v1.2.3
)

replace k8s.io/kubectl => ./staging/src/k8s.io/kubectl
"""


def test_every_staging_replace_becomes_the_matching_release() -> None:
    assert staging_replacements(KUBERNETES_GO_MOD) == [
        "k8s.io/api => k8s.io/api v0.36.3",
        "k8s.io/cri-api => k8s.io/cri-api v0.36.3",
        "k8s.io/kubectl => k8s.io/kubectl v0.36.3",
    ]


def test_a_go_mod_without_staging_modules_gives_nothing() -> None:
    assert staging_replacements("module x\n\nreplace a.b/c => a.b/c v1.0.0\n") == []
