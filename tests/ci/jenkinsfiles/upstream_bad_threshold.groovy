// expect: Jenkinsfile:4:14: upstream threshold: one of hudson.model.Result.SUCCESS, hudson.model.Result.UNSTABLE, hudson.model.Result.FAILURE
pipeline {
  agent any
  triggers { upstream(upstreamProjects: 'lib', threshold: hudson.model.Result.ABORTED) }
  stages { stage('a') { steps { echo 'x' } } }
}
