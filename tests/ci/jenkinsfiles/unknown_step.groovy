// expect: Jenkinsfile:7:9: unsupported step 'slackSend'
pipeline {
  agent any
  stages {
    stage('a') {
      steps {
        slackSend channel: '#ci', message: 'hi'
      }
    }
  }
}
