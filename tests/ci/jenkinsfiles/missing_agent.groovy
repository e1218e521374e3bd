// expect: Jenkinsfile:2:1: pipeline needs an 'agent' section
pipeline {
  stages {
    stage('a') { steps { echo 'x' } }
  }
}
