// expect: Jenkinsfile:7:9: when 'expression'
pipeline {
  agent any
  stages {
    stage('a') {
      when {
        expression { return true }
      }
      steps { sh 'true' }
    }
  }
}
