// expect: Jenkinsfile:4:14: triggers { } cannot be nested: list cron(...), pollSCM(...) directly
pipeline {
  agent any
  triggers { triggers { cron('H * * * *') } }
  stages { stage('a') { steps { echo 'x' } } }
}
