// expect: Jenkinsfile:6:7: 'triggers' is not allowed in stage 'build'
pipeline {
  agent any
  stages {
    stage('build') {
      triggers { cron('H * * * *') }
      steps { echo 'x' }
    }
  }
}
