"""The tutorial's artefacts (sections C.1-C.2), embedded so `dockyard demo` works from an
installed package, and the few edits the demo makes to them (addresses, the offline base image,
a GitOps stage). `tests/test_demo.py` checks that the embedded copies equal
`tests/fixtures/tutorial/`."""

from __future__ import annotations

# Addresses the tutorial uses; against Dockyard each becomes its one host:port.
GITEA = "10.0.24.28:30022"
HARBOR = "10.0.24.28:30002"

DOCKERFILE = """FROM alpine:3.20
RUN echo "Hello from Kaniko" > /hello.txt
CMD ["cat", "/hello.txt"]
"""

JENKINSFILE = """pipeline {
  agent {
    kubernetes {
      yaml '''
apiVersion: v1
kind: Pod
spec:
  tolerations: [{operator: Exists}]
  containers:
  - name: kaniko
    image: gcr.io/kaniko-project/executor:debug
    command: [/busybox/cat]
    tty: true
    volumeMounts:
    - {name: docker-config, mountPath: /kaniko/.docker}
    resources:
      requests: {cpu: 100m, memory: 256Mi}
      limits: {cpu: 1, memory: 1Gi}
  volumes:
  - name: docker-config
    secret:
      secretName: harbor-auth
      items: [{key: .dockerconfigjson, path: config.json}]
'''
    }
  }
  stages {
    stage('Build and Push') {
      steps {
        container('kaniko') {
          sh '''
GIT_SHA=$(git rev-parse --short HEAD 2>/dev/null || echo dev)
/kaniko/executor \\\\
--dockerfile=Dockerfile --context=$(pwd) \\\\
--destination=10.0.24.28:30002/bootcamp/hello-kaniko:${GIT_SHA} \\\\
--destination=10.0.24.28:30002/bootcamp/hello-kaniko:latest \\\\
--insecure --skip-tls-verify
'''
        }
      }
    }
  }
}
"""

JOB_XML = """<?xml version='1.1' encoding='UTF-8'?>
<flow-definition plugin="workflow-job">
  <definition class="org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition" plugin="workflow-cps">
    <scm class="hudson.plugins.git.GitSCM" plugin="git">
      <userRemoteConfigs>
        <hudson.plugins.git.UserRemoteConfig>
          <url>http://bootcamp:bootcamp@10.0.24.28:30022/bootcamp/notes-app.git</url>
        </hudson.plugins.git.UserRemoteConfig>
      </userRemoteConfigs>
      <branches><hudson.plugins.git.BranchSpec><name>*/main</name></hudson.plugins.git.BranchSpec></branches>
    </scm>
    <scriptPath>Jenkinsfile</scriptPath>
  </definition>
</flow-definition>
"""

IMAGE_REPO = "bootcamp/hello-kaniko"
DEPLOY_CREDENTIAL = "deploy-login"
DEPLOY_PATH = "k8s"

# Jenkins' declarative subset has no way to shorten GIT_COMMIT (that needs `script { }`), so
# the demo makes `git rev-parse --short` print the full hash (git's own GIT_CONFIG_* variables):
# the Kaniko stage's :${GIT_SHA} tag is then ${GIT_COMMIT}, which gitopsSetImage can name.
_ENVIRONMENT = """  environment {
    // `git rev-parse --short` prints the full commit, so the :sha tag equals GIT_COMMIT
    GIT_CONFIG_COUNT = '1'
    GIT_CONFIG_KEY_0 = 'core.abbrev'
    GIT_CONFIG_VALUE_0 = '40'
  }
"""

_DEPLOY_STAGE = """    stage('Deploy') {
      steps {
        // GitOps: point notes-deploy's Deployment at the image just pushed; Argo CD syncs it
        gitopsSetImage repo: 'http://@HOST@/bootcamp/notes-deploy.git', path: '@PATH@',
                       image: "@HOST@/@IMAGE@=@HOST@/@IMAGE@:${GIT_COMMIT}",
                       credentialsId: '@CREDENTIAL@'
      }
    }
"""

DEPLOYMENT = """# notes-deploy: the Kubernetes manifests Argo CD syncs into the cluster (code != deploy).
# CI owns the image line: the hello-kaniko job's Deploy stage (gitopsSetImage) pins it to the
# commit it just built; everything else here is edited by people.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello-kaniko
  labels:
    app: hello-kaniko
spec:
  replicas: 1
  selector:
    matchLabels:
      app: hello-kaniko
  template:
    metadata:
      labels:
        app: hello-kaniko
    spec:
      containers:
      - name: hello
        image: {host}/{image}:latest  # set by CI to :<commit>
        resources:
          limits: {{cpu: 100m, memory: 64Mi}}
"""


def dockerfile(base_image: str) -> str:
    """The tutorial's Dockerfile with `FROM alpine:3.20` replaced by a locally imported base."""
    return _replace_once(DOCKERFILE, "FROM alpine:3.20", f"FROM {base_image}")


def jenkinsfile(host_port: str) -> str:
    """The tutorial's Jenkinsfile pointed at Dockyard, plus the GitOps stage (and the
    environment that makes its tag name the pushed one)."""
    text = JENKINSFILE.replace(HARBOR, host_port)
    text = _replace_once(text, "  stages {\n", _ENVIRONMENT + "  stages {\n")
    stage = _DEPLOY_STAGE.replace("@HOST@", host_port).replace("@PATH@", DEPLOY_PATH)
    stage = stage.replace("@IMAGE@", IMAGE_REPO).replace("@CREDENTIAL@", DEPLOY_CREDENTIAL)
    end = text.rstrip().rfind("\n  }\n}")
    if end < 0:
        raise ValueError("the Jenkinsfile does not end with its stages block")
    return text[: end + 1] + stage + text[end + 1 :]


def job_xml(host_port: str) -> str:
    """The tutorial's job.xml with the Gitea address replaced by Dockyard's."""
    return _replace_once(JOB_XML, GITEA, host_port)


def deployment(host_port: str) -> str:
    return DEPLOYMENT.format(host=host_port, image=IMAGE_REPO)


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise ValueError(f"expected exactly one {old!r} in the tutorial artefact")
    return text.replace(old, new)
