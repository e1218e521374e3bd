// expect: Jenkinsfile:7:9: script { }
pipeline {
  agent any
  stages {
    stage('a') {
      steps {
        script { def x = 1 }
      }
    }
  }
}
