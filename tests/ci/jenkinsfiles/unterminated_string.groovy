// expect: Jenkinsfile:6:18: unterminated string
pipeline {
  agent any
  stages {
    stage('a') {
      steps { sh '''
echo never closed
    }
  }
}
