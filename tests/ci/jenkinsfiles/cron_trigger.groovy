// expect: Jenkinsfile:4:14: trigger 'cron' is not supported
pipeline {
  agent any
  triggers { cron('H 4 * * *') }
  stages { stage('a') { steps { echo 'x' } } }
}
