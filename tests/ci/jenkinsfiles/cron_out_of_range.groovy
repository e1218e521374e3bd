// expect: Jenkinsfile:4:14: cron: Invalid input: "61 * * * *": line 1:0: 61 is an invalid value. Must be within 0 and 59
pipeline {
  agent any
  triggers { cron('61 * * * *') }
  stages { stage('a') { steps { echo 'x' } } }
}
