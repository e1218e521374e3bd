"""Matrix cells with their own pod template on the real test cluster (tests/k8s): the cells'
containers join the build's one pod under numbered names, each cell's steps run in its own
container (its image and env from the axis values), and the pod is gone after the build."""

from __future__ import annotations

import pytest

from tests.ci.kubernetes.test_executor_cluster import K8sCI, k8s_ci  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow


def test_each_matrix_cell_runs_in_its_own_containers_of_the_builds_pod(k8s_ci: K8sCI) -> None:  # noqa: F811
    busybox = k8s_ci.images.busybox
    script = f"""pipeline {{
  agent none
  stages {{
    stage('Cells') {{
      matrix {{
        axes {{ axis {{ name 'FLAVOR'; values 'small', 'large' }} }}
        agent {{
          kubernetes {{
            defaultContainer 'tool'
            yaml \"\"\"
spec:
  containers:
  - name: tool
    image: {busybox}
    command: [cat]
    tty: true
    env: [{{name: CELL_FLAVOR, value: ${{FLAVOR}}}}]
\"\"\"
          }}
        }}
        stages {{
          stage('Run') {{
            steps {{
              sh 'echo "cell $FLAVOR in $POD_CONTAINER with CELL_FLAVOR=$CELL_FLAVOR"'
              sh 'echo "$FLAVOR" > "$FLAVOR.txt"'
            }}
          }}
        }}
      }}
    }}
    stage('Both') {{ steps {{ sh 'cat small.txt large.txt' }} }}
  }}
}}"""
    name = k8s_ci.job(script)
    info, log = k8s_ci.ci.run(name, timeout=180)
    assert info["result"] == "SUCCESS", log
    assert "cell small in tool-1 with CELL_FLAVOR=small" in log
    assert "cell large in tool-2 with CELL_FLAVOR=large" in log
    assert "+ cat small.txt large.txt\nsmall\nlarge\n" in log  # one workspace: the pod's emptyDir
    stages = k8s_ci.ci.http.get(f"/job/{name}/1/wfapi/describe").json()["stages"]
    assert {s["name"]: s["status"] for s in stages if s["name"].startswith("Matrix")} == {
        "Matrix - FLAVOR = 'small'": "SUCCESS",
        "Matrix - FLAVOR = 'large'": "SUCCESS",
    }
    k8s_ci.wait_no_pods()
