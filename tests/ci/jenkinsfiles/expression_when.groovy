// expect: Jenkinsfile:7:34: execute() (running a host command) is not in Dockyard's Groovy subset
pipeline {
  agent any
  stages {
    stage('a') {
      when {
        expression { return 'id'.execute().text == 'x' }
      }
      steps { sh 'true' }
    }
  }
}
