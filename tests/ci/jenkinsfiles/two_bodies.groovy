// expect: Jenkinsfile:5:5: stage 'a' needs exactly one of steps, parallel, matrix or stages
pipeline {
  agent any
  stages {
    stage('a') {
      steps { echo 'x' }
      parallel { stage('b') { steps { echo 'y' } } }
    }
  }
}
